from loyalty.imports import PointsImportResource
from loyalty.management.commands._import import ImportCommand


class Command(ImportCommand):
    help = (
        "Grant or correct points from a CSV file with columns loyalty_id or email, points (positive adds, "
        "negative removes), reason (shown to the member) and optionally expires_at and reference. All or "
        "nothing; importing the same file again changes nothing."
    )
    resource_class = PointsImportResource
    what = "rows"
