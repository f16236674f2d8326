from loyalty.management.commands._import import ImportCommand
from members.imports import MemberImportResource


class Command(ImportCommand):
    help = (
        "Enrol members from a CSV file (a migration from another programme): email, names, birthday, phone, "
        "language, marketing_consent, and for new members loyalty_id, joined_at, available_points (an opening "
        "balance) and tier (a tier floor). All or nothing; importing the same file again changes nothing."
    )
    resource_class = MemberImportResource
    what = "rows"
