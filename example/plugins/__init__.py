"""A plugin system like InvenTree's: PluginConfig rows decide which plugin apps are installed."""
