"""What staff did: imports, bulk actions and the single changes recorded with them (a manual adjustment, a
membership closed, an action recorded), one row each (who, when, what, how many, details)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class StaffActionKind(models.TextChoices):
    POINTS_ADJUSTED = "points_adjusted", _("Points added or removed")
    MEMBERS_SUSPENDED = "members_suspended", _("Members suspended")
    MEMBERS_REACTIVATED = "members_reactivated", _("Members reactivated")
    EXPIRY_REMINDERS_RESENT = "expiry_reminders_resent", _("Expiry reminders sent again")
    BADGE_GRANTED = "badge_granted", _("Badge granted")
    REFERRALS_UNBLOCKED = "referrals_unblocked", _("Referrals unblocked")
    REFERRALS_CANCELLED = "referrals_cancelled", _("Referrals cancelled")
    REDEMPTIONS_CANCELLED = "redemptions_cancelled", _("Redemptions cancelled")
    MEMBERS_IMPORTED = "members_imported", _("Members imported")
    POINTS_IMPORTED = "points_imported", _("Points imported")
    MEMBER_CLOSED = "member_closed", _("Membership closed")
    ACTION_RECORDED = "action_recorded", _("Action recorded")


class StaffActionSource(models.TextChoices):
    ADMIN = "admin", _("Admin")
    COMMAND = "command", _("Command line")
    API = "api", _("API key")


class StaffAction(models.Model):
    """One bulk action, import or staff change, written by the service that did it, in the same database
    transaction. From the admin it names the staff user; through the REST API (admin scope) the API key, in
    `details["api_key"]`; from the command line neither.

    Read-only in the admin; never changed or deleted. `details` holds what the action was given (points,
    reason, the filter or selection, the file name) and what came of it (counts, refused members)."""

    kind = models.CharField(_("action"), max_length=32, choices=StaffActionKind.choices)
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("staff user"), help_text=_("Empty when run from the command line or through an API key."),
    )
    source = models.CharField(
        _("source"), max_length=10, choices=StaffActionSource.choices, default=StaffActionSource.ADMIN
    )
    performed_at = models.DateTimeField(_("performed at"), default=timezone.now)
    count = models.PositiveIntegerField(_("how many"), help_text=_("Members, rows or redemptions affected."))
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("audit log entry")
        verbose_name_plural = _("audit log entries")
        ordering = ["-performed_at", "-id"]
        indexes = [models.Index(fields=["-performed_at", "-id"], name="staff_action_recent")]
        constraints = [
            models.CheckConstraint(
                condition=Q(source__in=["command", "api"]) | Q(staff_user__isnull=False),
                name="staff_action_admin_has_user",
            ),
        ]
        # Permissions that belong to no single model; the staff roles (migration 0013) hand them out.
        permissions = [
            ("view_kpi_dashboard", _("Can view the KPI dashboard")),
            ("run_bulk_actions", _("Can run bulk actions on members")),
            ("import_data", _("Can import members and points")),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.count})"
