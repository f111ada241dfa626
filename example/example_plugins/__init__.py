"""Plugins of the example project: each subpackage is a Django app installed while active."""
