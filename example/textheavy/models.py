"""Models of the text-heavy schema: few tables, wide rows.

Where inventory's rows are narrow (ids, short names, foreign keys), these carry per row several
kilobytes of text and JSON, a binary blob, several decimals and datetimes: what a CMS, a ticket
system or an audit log holds, and what costs an exporter encoding rather than round trips.
"""

import uuid

from django.db import models


class Author(models.Model):
    """Who writes documents: a small table documents refer to."""

    name = models.CharField(max_length=100)
    email = models.EmailField(blank=True)
    biography = models.TextField(blank=True)
    profile = models.JSONField(default=dict)
    joined = models.DateTimeField()

    def __str__(self) -> str:
        return self.name


class Document(models.Model):
    """The bulk of the rows: a long body, a JSON document, a blob, decimals and datetimes."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="documents")
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    body = models.TextField()
    metadata = models.JSONField(default=dict)
    attachment = models.BinaryField(null=True)
    price = models.DecimalField(max_digits=14, decimal_places=4)
    weight = models.DecimalField(max_digits=12, decimal_places=6, null=True)
    score = models.DecimalField(max_digits=7, decimal_places=3)
    created = models.DateTimeField()
    modified = models.DateTimeField()
    published = models.DateTimeField(null=True)
    revision = models.PositiveIntegerField(default=1)

    def __str__(self) -> str:
        return self.title


class Revision(models.Model):
    """An earlier version of a document: a diff as text, what changed as JSON, when."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    diff = models.TextField()
    changes = models.JSONField(default=list)
    checksum = models.BinaryField(max_length=32)
    amount = models.DecimalField(max_digits=10, decimal_places=2, null=True)
    saved = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["document", "number"], name="textheavy_revision_number")
        ]

    def __str__(self) -> str:
        return f"{self.document_id} r{self.number}"
