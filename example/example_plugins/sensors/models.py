"""Models of the sensors plugin; they exist only while the plugin is active."""

import os

from django.db import models

RELEASE = os.environ.get("EXAMPLE_SENSORS_RELEASE", "1")


class Sensor(models.Model):
    """A sensor mounted on a part."""

    part = models.ForeignKey("inventory.Part", on_delete=models.CASCADE, related_name="sensors")
    name = models.CharField(max_length=100)
    serial = models.CharField(max_length=40, unique=True)
    offset = models.DecimalField(max_digits=12, decimal_places=6)
    calibrated_at = models.DateTimeField(null=True)
    config = models.JSONField(default=dict)
    if RELEASE == "2":
        label = models.CharField(max_length=160, default="")  # filled by release 2's 0002

    def __str__(self) -> str:
        return self.serial


class SensorReading(models.Model):
    """One reading of a sensor, with the raw bytes it sent (if kept)."""

    sensor = models.ForeignKey(Sensor, on_delete=models.CASCADE, related_name="readings")
    taken_at = models.DateTimeField()
    value = models.FloatField()
    raw = models.BinaryField(null=True)

    def __str__(self) -> str:
        return f"{self.sensor_id}@{self.taken_at}: {self.value}"
