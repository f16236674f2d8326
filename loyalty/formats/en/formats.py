# One date format on every page: dates as in Django's English format ("Feb. 1, 2025", also in emails), and
# times with them everywhere in 24 hours ("Feb. 1, 2025, 14:05"), where Django mixed "Feb. 1, 2025, 2:05 p.m."
# (read-only fields) with "02/01/2025 2:05 p.m." (tables using the short formats) on one page.
DATE_FORMAT = "N j, Y"
DATETIME_FORMAT = "N j, Y, H:i"
SHORT_DATE_FORMAT = DATE_FORMAT
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
TIME_FORMAT = "H:i"
