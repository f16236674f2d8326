# One date format everywhere (admin lists, forms' read-only fields, the member pages, the dashboard):
# "5 Mar 2025" and "5 Mar 2025, 14:05", instead of Django's mix of "March 5, 2025, 2:05 p.m." and "03/05/2025".
# Input formats stay Django's for the language.
DATE_FORMAT = "j M Y"
DATETIME_FORMAT = "j M Y, H:i"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y, H:i"
TIME_FORMAT = "H:i"
YEAR_MONTH_FORMAT = "F Y"
MONTH_DAY_FORMAT = "j F"
