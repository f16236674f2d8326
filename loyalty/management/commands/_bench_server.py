"""WSGI application for `bench_api --server`: the project with the benchmark's trivial endpoints mounted.

Served by gunicorn in a child process of the command; never part of the deployed URLconf.
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")
django.setup()

from django.conf import settings  # noqa: E402 - after setup
from django.core.wsgi import get_wsgi_application  # noqa: E402

from loyalty.management.commands.bench_api import bench_urlconf  # noqa: E402

settings.ROOT_URLCONF = bench_urlconf()  # type: ignore[misc]  # a module object, as override_settings does
application = get_wsgi_application()
