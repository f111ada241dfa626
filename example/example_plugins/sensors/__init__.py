"""Sensors plugin: sensors attached to parts and their readings.

Two releases, chosen by EXAMPLE_SENSORS_RELEASE (``1``, the default, or ``2``), to test
importing a dump of release 1 into release 2's code: release 2's migration 0002 adds
Sensor.label, filled by a data migration (``releases/r2``; example_project/settings.py points
MIGRATION_MODULES there). EXAMPLE_SENSORS_FAIL makes that data migration fail.
"""

NAME = "Sensors"
