"""A key/value settings table, like InvenTree's InvenTreeSetting."""

from django.db import models


class Setting(models.Model):
    """One application setting; some rows are created by post_migrate on every installation."""

    key = models.CharField(max_length=50, unique=True)
    value = models.TextField(blank=True)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.key}={self.value}"
