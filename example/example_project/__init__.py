"""Settings package of the streamdump example project."""
