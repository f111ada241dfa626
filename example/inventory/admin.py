"""Admin registrations so the generated data can be browsed."""

from django.contrib import admin

from . import models

for _model in (
    models.Unit,
    models.PartCategory,
    models.StockLocation,
    models.Tag,
    models.Company,
    models.Part,
    models.SupplierPart,
    models.StockItem,
    models.TrackedStockItem,
    models.StockMovement,
    models.Comment,
    models.Attachment,
):
    admin.site.register(_model)
