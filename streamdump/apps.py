"""Django app config: adding "streamdump" to INSTALLED_APPS provides the management commands."""

from django.apps import AppConfig


class StreamdumpConfig(AppConfig):
    name = "streamdump"
    verbose_name = "streamdump"
