"""The demo's reward catalogue (`python manage.py demo`): rewards of every kind with pictures drawn by
Pillow, a partner voucher pool, and members who redeem rewards and use their coupons while the history is
replayed, all through the real services. Found by the demo command (autodiscover of `demo` modules)."""

from __future__ import annotations

import io
import math
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.files.base import ContentFile
from PIL import Image, ImageDraw, ImageFont

from loyalty.management.commands import demo as demo_command
from loyalty.models import AccountKind, LedgerAccount, Store, Tier
from loyalty.services.ledger import LedgerError
from rewards.models import Redemption, RedemptionStatus, Reward, RewardKind
from rewards.services import coupon_use, reward_create, reward_redeem, voucher_codes_import

# (code, name, kind, points, value, colours, picture, extra fields)
CATALOGUE: list[tuple[str, str, str, int, str, tuple[str, str], str, dict[str, Any]]] = [
    ("coffee", "Free coffee", RewardKind.FREE_PRODUCT, 150, "2.80", ("#6f4e37", "#c8a27a"), "cup",
     {"description": "Any coffee from the menu, any size.", "sku": "COF-100",
      "how_to_use": "Show the code at the coffee bar of any of our shops."}),
    ("five-off", "€5 off your order", RewardKind.FIXED_DISCOUNT, 500, "5.00", ("#0b6b63", "#5fc2b4"), "tag",
     {"description": "€5 off any order from €20, in our shops or the web shop."}),
    ("free-shipping", "Free shipping", RewardKind.FREE_SHIPPING, 300, "4.95", ("#1f4e8c", "#7fb0ee"), "truck",
     {"description": "No shipping costs on your next web shop order."}),
    ("ten-percent", "10% off everything", RewardKind.PERCENTAGE_DISCOUNT, 800, "10", ("#8c2f5b", "#e58fb5"), "percent",
     {"description": "10% off a whole order, once."}),
    ("tote-bag", "Canvas tote bag", RewardKind.FREE_PRODUCT, 1000, "12.00", ("#4d5b2c", "#b7c77a"), "bag",
     {"description": "Our sturdy tote bag in natural canvas. While stocks last.", "stock": 25, "per_member_limit": 1}),
    ("cinema", "Cinema ticket", RewardKind.PARTNER_VOUCHER, 1200, "11.50", ("#2b2d42", "#8d99ae"), "ticket",
     {"description": "A ticket for any film at Cinema Paradiso.", "partner_name": "Cinema Paradiso"}),
    ("tree", "Plant a tree", RewardKind.CHARITY_DONATION, 400, "4.00", ("#2d6a4f", "#95d5b2"), "tree",
     {"description": "We give €4 to Trees for All, who plant a tree for you.", "charity_name": "Trees for All"}),
    ("cashback", "€10 cashback", RewardKind.CASHBACK, 1500, "10.00", ("#7a5c00", "#f2c94c"), "coin",
     {"description": "€10 back, paid out at the till."}),
    ("tasting", "Coffee tasting evening", RewardKind.EXPERIENCE, 2500, "25.00", ("#3d2c8d", "#9d8df1"), "star",
     {"description": "An evening with our roasters, tasting six single origins. Gold members and above.",
      "min_tier": "gold", "stock": 12}),
]
PARTNER_CODES = [f"PARADISO-{number:04d}" for number in range(1, 61)]


def _hex(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _font(size: int):
    for name in ("DejaVuSans-Bold.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default()


def reward_picture(*, title: str, colours: tuple[str, str], picture: str) -> bytes:
    """An 800 x 600 PNG: a diagonal gradient, a simple drawing and the reward's name."""
    width, height = 800, 600
    dark, light = _hex(colours[0]), _hex(colours[1])
    image = Image.new("RGB", (width, height), dark)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / height
        draw.line([(0, y), (width, y)], fill=tuple(int(dark[i] + (light[i] - dark[i]) * t * 0.55) for i in range(3)))
    ink, cx, cy = (255, 255, 255), width // 2, 250
    if picture == "cup":
        draw.rounded_rectangle((cx - 110, cy - 90, cx + 80, cy + 90), radius=30, outline=ink, width=18)
        draw.arc((cx + 40, cy - 50, cx + 150, cy + 50), -90, 90, fill=ink, width=18)
        for offset in (-60, -15, 30):
            draw.arc((cx + offset - 20, cy - 190, cx + offset + 20, cy - 110), 90, 270, fill=ink, width=10)
    elif picture == "tag":
        draw.polygon([(cx - 150, cy - 80), (cx + 60, cy - 80), (cx + 150, cy), (cx + 60, cy + 80),
                      (cx - 150, cy + 80)], outline=ink, width=16)
        draw.ellipse((cx + 40, cy - 18, cx + 76, cy + 18), fill=ink)
        draw.text((cx - 110, cy - 48), "€5", font=_font(84), fill=ink)
    elif picture == "truck":
        draw.rectangle((cx - 170, cy - 80, cx + 40, cy + 60), outline=ink, width=16)
        draw.polygon([(cx + 40, cy - 40), (cx + 120, cy - 40), (cx + 170, cy + 10), (cx + 170, cy + 60),
                      (cx + 40, cy + 60)], outline=ink, width=16)
        for x in (cx - 110, cx + 100):
            draw.ellipse((x - 38, cy + 45, x + 38, cy + 121), fill=dark, outline=ink, width=14)
    elif picture == "percent":
        draw.text((cx - 150, cy - 120), "10%", font=_font(170), fill=ink)
    elif picture == "bag":
        draw.rectangle((cx - 120, cy - 60, cx + 120, cy + 120), outline=ink, width=16)
        draw.arc((cx - 70, cy - 150, cx + 70, cy + 10), 180, 360, fill=ink, width=16)
    elif picture == "ticket":
        draw.rounded_rectangle((cx - 170, cy - 90, cx + 170, cy + 90), radius=20, outline=ink, width=16)
        for y in range(cy - 70, cy + 80, 30):
            draw.rectangle((cx + 60, y, cx + 70, y + 15), fill=ink)
        draw.text((cx - 140, cy - 40), "ADMIT", font=_font(56), fill=ink)
    elif picture == "tree":
        draw.rectangle((cx - 18, cy + 40, cx + 18, cy + 140), fill=ink)
        draw.polygon([(cx, cy - 160), (cx + 130, cy + 60), (cx - 130, cy + 60)], fill=ink)
    elif picture == "coin":
        draw.ellipse((cx - 120, cy - 120, cx + 120, cy + 120), outline=ink, width=18)
        draw.text((cx - 52, cy - 80), "€", font=_font(150), fill=ink)
    else:
        points = []
        for index in range(10):
            radius = 140 if index % 2 == 0 else 58
            angle = math.pi / 2 + index * math.pi / 5
            points.append((cx + radius * math.cos(angle), cy - radius * math.sin(angle)))
        draw.polygon(points, fill=ink)
    font = _font(46)
    text_width = draw.textlength(title, font=font)
    draw.text(((width - text_width) / 2, 470), title, font=font, fill=ink)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def demo_rewards(demo: demo_command.Demo) -> None:
    """The catalogue, created through rewards.services (which makes the thumbnails)."""
    tiers = {tier.code: tier for tier in Tier.objects.all()}
    for code, name, kind, points, value, colours, picture, extra in CATALOGUE:
        if Reward.objects.filter(code=code).exists():
            continue
        fields = dict(extra)
        if "min_tier" in fields:
            fields["min_tier"] = tiers.get(fields["min_tier"])
        image = ContentFile(reward_picture(title=name, colours=colours, picture=picture), name=f"{code}.png")
        reward = reward_create(code=code, name=name, kind=kind, cost_points=points, value=Decimal(value),
                               image=image, **fields)
        if kind == RewardKind.PARTNER_VOUCHER:
            voucher_codes_import(reward=reward, codes=PARTNER_CODES)
    demo.spend = demo_spend


def demo_spend(demo: demo_command.Demo, planned: demo_command.PlannedMember, when: datetime, store: Store) -> bool:
    """A visit: use a coupon the member holds on this order, or redeem a reward they can afford."""
    rng, member = demo.rng, planned.member
    assert member is not None
    held = Redemption.objects.filter(member=member, status=RedemptionStatus.ISSUED, expires_at__gt=when).first()
    if held is not None and rng.random() < 0.7:
        coupon_use(code=held.code, order_id=f"DEMO-C{held.pk:05d}", store=store, now=when)
        demo.counts["coupons used"] += 1
        return False
    if rng.random() >= planned.persona.redeem_chance:
        return False
    available = LedgerAccount.objects.get(member=member, kind=AccountKind.AVAILABLE).balance
    affordable = list(Reward.objects.filter(active=True, cost_points__lte=available))
    if not affordable:
        return False
    reward = rng.choice(sorted(affordable, key=lambda reward: reward.cost_points)[-3:])
    try:
        reward_redeem(member=member, reward=reward, store=store, now=when)
    except LedgerError:  # out of stock, a tier or a limit: the member buys without
        return False
    demo.counts["redemptions"] += 1
    return True


demo_command.step_add(demo_rewards, before=demo_command.demo_history)
