"""App config of the text-heavy benchmark schema."""

from django.apps import AppConfig


class TextHeavyConfig(AppConfig):
    name = "textheavy"
    verbose_name = "Text-heavy benchmark schema"
