"""Sensors plugin: sensors attached to parts and their readings."""

NAME = "Sensors"
