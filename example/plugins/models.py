"""The per-database plugin configuration."""

from django.db import models


class PluginConfig(models.Model):
    """One plugin known to this database; active plugins' apps are installed at start-up."""

    key = models.CharField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    package = models.CharField(max_length=200)  # dotted path of the plugin's Django app
    active = models.BooleanField(default=False)
    metadata = models.JSONField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.key} ({'active' if self.active else 'inactive'})"
