"""Admin registration of the plugin configuration."""

from django.contrib import admin

from .models import PluginConfig

admin.site.register(PluginConfig)
