"""What every process needs to know that the configuration changed."""

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _


class ConfigVersion(models.Model):
    """One row (pk 1). `version` goes up with every change to a cached configuration table (a database
    trigger on each of them, so queryset update() and plain SQL count too); every cached configuration
    value is keyed by it, so each process reads a change on its next request. `install` tells installs
    that share a cache apart: a value cached by another install is never read as this one's.
    See loyalty.services.program."""

    install = models.UUIDField(default=uuid.uuid4, editable=False)
    version = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("configuration version")
        verbose_name_plural = _("configuration versions")
        constraints = [models.CheckConstraint(condition=models.Q(pk=1), name="config_version_one_row")]

    def __str__(self) -> str:
        return f"{self.install}:{self.version}"
