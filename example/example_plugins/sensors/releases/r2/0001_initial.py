"""Release 2 keeps release 1's first migration (sensors/migrations/0001_initial.py) as it is."""

from importlib import import_module

Migration = import_module("example_plugins.sensors.migrations.0001_initial").Migration
