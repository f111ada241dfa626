"""App config of the sensors plugin."""

from django.apps import AppConfig


class SensorsConfig(AppConfig):
    name = "example_plugins.sensors"
    label = "sensors"
    verbose_name = "Sensors (plugin)"
