"""Release 2 of the sensors plugin: a label filled from each sensor's name and serial."""

import os

from django.db import migrations, models


def fill(apps, schema_editor):
    if os.environ.get("EXAMPLE_SENSORS_FAIL"):
        raise ValueError("sensors release 2 cannot fill the labels (EXAMPLE_SENSORS_FAIL)")
    Sensor = apps.get_model("sensors", "Sensor")
    for sensor in Sensor.objects.order_by("id"):
        sensor.label = f"{sensor.name} ({sensor.serial})"
        sensor.save(update_fields=["label"])


class Migration(migrations.Migration):
    dependencies = [("sensors", "0001_initial")]

    operations = [
        migrations.AddField("sensor", "label", models.CharField(default="", max_length=160)),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
