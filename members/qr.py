"""QR codes for the till's scanner: the loyalty card and the coupons, as SVG for pages and PNG for emails."""

from __future__ import annotations

import io
from email.mime.image import MIMEImage

import qrcode
import qrcode.image.svg
from django.http import HttpResponse


def qr_svg_response(value: str) -> HttpResponse:
    """`value` as an SVG QR code, cacheable by the member's own browser only."""
    image = qrcode.make(value, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    response = HttpResponse(image.to_string(encoding="unicode"), content_type="image/svg+xml")
    response["Cache-Control"] = "private, max-age=3600"
    return response


def qr_email_image(value: str, *, content_id: str, filename: str) -> MIMEImage:
    """`value` as a PNG QR code to attach to an email, shown by its HTML part as `cid:<content_id>`."""
    buffer = io.BytesIO()
    qrcode.make(value, box_size=8, border=2).save(buffer, format="PNG")
    image = MIMEImage(buffer.getvalue(), "png")
    image.add_header("Content-ID", f"<{content_id}>")
    image.add_header("Content-Disposition", "inline", filename=filename)
    return image
