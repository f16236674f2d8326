"""The portal's "Refer a friend" page: the signed-in member's own link and referrals, nobody else's."""

from urllib.parse import quote

from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from campaigns.services.referrals import member_display_name, member_referrals_get
from loyalty.services.program import program_get
from members.models import Member
from members.views import member_required


@member_required
@require_GET
def referrals(request, member: Member):
    summary = member_referrals_get(member=member)
    url = request.build_absolute_uri(reverse("portal:referral_link", args=[member.referral_code]))
    program = program_get()
    message = _("Join %(program)s with my invitation: %(url)s") % {"program": program.name, "url": url}
    context = {
        "member": member,
        "program": program,
        "referral_url": url,
        "summary": summary,
        "referrals": [(referral, member_display_name(referral.referee)) for referral in summary["results"]],
        "email_share_url": "mailto:?subject={}&body={}".format(
            quote(_("An invitation to %(program)s") % {"program": program.name}), quote(message)
        ),
        "whatsapp_share_url": f"https://wa.me/?text={quote(message)}",
    }
    return render(request, "campaigns/referrals.html", context)
