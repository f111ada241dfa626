"""Inventory app: an InvenTree-like schema containing every case that breaks naive loaders."""
