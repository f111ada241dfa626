"""Inventory models covering the hard cases for dump/load tools.

Self-referencing trees, a foreign-key cycle, auto and explicit many-to-many, multi-table
inheritance, proxies, natural keys, UUID primary keys, generic foreign keys and binary data.
"""

import uuid

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models


class UnitManager(models.Manager["Unit"]):
    """Manager resolving units by their natural key."""

    def get_by_natural_key(self, name: str) -> "Unit":
        """Return the unit with this name."""
        return self.get(name=name)


class Unit(models.Model):
    """A unit of measure, identified by its natural key (name)."""

    name = models.CharField(max_length=50, unique=True)
    symbol = models.CharField(max_length=20, blank=True)
    definition = models.CharField(max_length=200, blank=True)

    objects = UnitManager()

    def natural_key(self) -> tuple[str]:
        """Return the natural key (name,)."""
        return (self.name,)

    def __str__(self) -> str:
        return self.name


class PartCategory(models.Model):
    """A node of the part category tree (self-referencing FK)."""

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )

    class Meta:
        verbose_name_plural = "part categories"

    def __str__(self) -> str:
        return self.name


class StockLocation(models.Model):
    """A node of the stock location tree (self-referencing FK)."""

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE)

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    """A free-form label attached to parts (auto many-to-many)."""

    name = models.CharField(max_length=50, unique=True)
    color = models.CharField(max_length=20, blank=True)

    def __str__(self) -> str:
        return self.name


class Company(models.Model):
    """A supplier and/or customer."""

    name = models.CharField(max_length=100, unique=True)
    website = models.URLField(blank=True)
    email = models.EmailField(blank=True)
    is_supplier = models.BooleanField(default=True)
    is_customer = models.BooleanField(default=False)
    notes = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    currency = models.CharField(max_length=3)
    contacts = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True)

    class Meta:
        verbose_name_plural = "companies"

    def __str__(self) -> str:
        return self.name


class Part(models.Model):
    """A part definition; its default_supplier closes a FK cycle with SupplierPart."""

    name = models.CharField(max_length=100)
    IPN = models.CharField(max_length=100, null=True, blank=True, unique=True)  # noqa: N815
    description = models.TextField(blank=True)
    category = models.ForeignKey(PartCategory, null=True, blank=True, on_delete=models.SET_NULL)
    units = models.ForeignKey(Unit, null=True, blank=True, on_delete=models.SET_NULL)
    active = models.BooleanField(default=True)
    virtual = models.BooleanField(default=False)
    trackable = models.BooleanField(null=True)
    minimum_stock = models.DecimalField(max_digits=28, decimal_places=10, default=0)
    weight_kg = models.FloatField(null=True, blank=True)
    lead_time = models.DurationField(null=True, blank=True)
    uuid = models.UUIDField(unique=True, default=uuid.uuid4)
    metadata = models.JSONField(null=True, blank=True)
    image = models.FileField(upload_to="parts/", blank=True)
    created = models.DateTimeField(auto_now_add=True)
    last_modified = models.DateTimeField(auto_now=True)
    website = models.URLField(blank=True)
    barcode_hash = models.CharField(max_length=128, blank=True)
    sort_key = models.BigIntegerField(default=0)
    revision = models.SmallIntegerField(default=0)
    launched = models.DateField(null=True, blank=True)
    slug = models.SlugField(blank=True)
    contact_email = models.EmailField(blank=True)
    server_ip = models.GenericIPAddressField(null=True, blank=True)
    tags = models.ManyToManyField(Tag, blank=True)
    suppliers = models.ManyToManyField(
        Company, through="SupplierPart", related_name="supplied_parts"
    )
    # Cycle: Part -> SupplierPart -> Part. Loaders must insert NULL first, then update.
    default_supplier = models.ForeignKey(
        "SupplierPart", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return self.name


class Assembly(Part):
    """Proxy of Part: shares its table, must not be dumped separately."""

    class Meta:
        proxy = True
        verbose_name_plural = "assemblies"


class SupplierPart(models.Model):
    """A part as sold by a supplier: the through model of Part.suppliers."""

    part = models.ForeignKey(Part, on_delete=models.CASCADE, related_name="supplier_parts")
    supplier = models.ForeignKey(Company, on_delete=models.CASCADE)
    SKU = models.CharField(max_length=100)  # noqa: N815
    unit_price = models.DecimalField(max_digits=30, decimal_places=12, null=True, blank=True)
    pack_quantity = models.PositiveIntegerField(default=1)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.SKU


class StockItem(models.Model):
    """A physical quantity of a part at a location (MTI parent)."""

    part = models.ForeignKey(Part, on_delete=models.CASCADE, related_name="stock_items")
    location = models.ForeignKey(
        StockLocation, null=True, blank=True, on_delete=models.SET_NULL, related_name="items"
    )
    quantity = models.DecimalField(max_digits=15, decimal_places=5)
    batch = models.CharField(max_length=100, blank=True)
    expiry_date = models.DateField(null=True, blank=True)
    updated = models.DateTimeField(auto_now=True)
    created = models.DateTimeField(auto_now_add=True)
    status = models.SmallIntegerField(default=10)
    notes = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.quantity} x {self.part_id}"


class TrackedStockItem(StockItem):
    """A serialised stock item: multi-table inheritance child of StockItem."""

    serial = models.CharField(max_length=100)
    firmware = models.BinaryField(null=True, blank=True)
    last_checked_at = models.TimeField(null=True, blank=True)


class ActiveStockItem(StockItem):
    """Proxy of StockItem: shares its table, must not be dumped separately."""

    class Meta:
        proxy = True


class StockMovement(models.Model):
    """A stock change with a UUID primary key and a JSON payload."""

    class Kind(models.TextChoices):
        RECEIVE = "receive", "Received"
        CONSUME = "consume", "Consumed"
        MOVE = "move", "Moved"
        ADJUST = "adjust", "Adjusted"
        RETURN = "return", "Returned"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    item = models.ForeignKey(StockItem, on_delete=models.CASCADE, related_name="movements")
    quantity = models.DecimalField(max_digits=15, decimal_places=5)
    timestamp = models.DateTimeField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    payload = models.JSONField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.quantity}"


class Comment(models.Model):
    """A comment on any object through a generic foreign key."""

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField()
    target = GenericForeignKey("content_type", "object_id")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    text = models.TextField()
    created = models.DateTimeField()

    def __str__(self) -> str:
        return self.text[:50]


class Attachment(models.Model):
    """A file attached to any object through a generic foreign key, with inline binary data."""

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField()
    target = GenericForeignKey("content_type", "object_id")
    file = models.FileField(upload_to="attachments/")
    data = models.BinaryField(null=True, blank=True)
    size = models.BigIntegerField(default=0)
    uploaded = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.file.name



class GradeManager(models.Manager["Grade"]):
    """Manager resolving grades by their natural key."""

    def get_by_natural_key(self, code: str) -> "Grade":
        """Return the grade with this code."""
        return self.get(code=code)


class Grade(models.Model):
    """A quality grade known by its code (natural key); its successor is a natural foreign key
    to the same model, which a fixture may give before the row it points to."""

    code = models.CharField(max_length=20, unique=True)
    successor = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = GradeManager()

    def natural_key(self) -> tuple[str]:
        """Return the natural key (code,)."""
        return (self.code,)

    def __str__(self) -> str:
        return self.code


class SpecialGrade(Grade):
    """A multi-table child of Grade: with --natural-primary its records have no pk, only the
    link to its parent, by the parent's natural key."""

    note = models.CharField(max_length=100, blank=True)


class GradeSchemeManager(models.Manager["GradeScheme"]):
    """Manager resolving grade schemes by their natural key."""

    def get_by_natural_key(self, name: str) -> "GradeScheme":
        """Return the scheme with this name."""
        return self.get(name=name)


class GradeScheme(models.Model):
    """A set of grades known by its name; its owner (an Assessor, who names a scheme in turn)
    closes a cycle of natural foreign keys between two models."""

    name = models.CharField(max_length=50, unique=True)
    default = models.ForeignKey(
        Grade, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    owner = models.ForeignKey(
        "Assessor", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = GradeSchemeManager()

    def natural_key(self) -> tuple[str]:
        """Return the natural key (name,)."""
        return (self.name,)

    def __str__(self) -> str:
        return self.name


class AssessorManager(models.Manager["Assessor"]):
    """Manager resolving assessors by their natural key."""

    def get_by_natural_key(self, name: str) -> "Assessor":
        """Return the assessor with this name."""
        return self.get(name=name)


class Assessor(models.Model):
    """Someone who grades, known by name, with the scheme they use (see GradeScheme)."""

    name = models.CharField(max_length=50, unique=True)
    scheme = models.ForeignKey(
        GradeScheme, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = AssessorManager()

    def natural_key(self) -> tuple[str]:
        """Return the natural key (name,)."""
        return (self.name,)

    def __str__(self) -> str:
        return self.name
