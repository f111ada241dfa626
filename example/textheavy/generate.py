"""Deterministic generator of the text-heavy schema (benchmarks/, STREAMDUMP_BENCH_SCHEMAS).

The same ``rows`` and ``seed`` give the same content, as inventory's generator, whose value
helpers (datetimes in 1970-2030, decimals of at most 15 digits, JSON without reformatted floats,
binary) this one uses so that every backend stores the values identically. A document carries
about 1 kB: a body of a few sentences, a summary, a JSON document, a blob of up to 512 bytes, three
decimals and three datetimes; its revisions a diff, a JSON list of changes and a checksum.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from django.db import transaction
from inventory.generate import TRICKY_TEXT, WORDS, DatabaseNotEmptyError
from inventory.generate import _Generator as Values

from .models import Author, Document, Revision

SENTENCES = 4096  # a pool of sentences bodies are drawn from: text that compresses as prose does


class _TextGenerator:
    """The planned sizes and one method per table; values from inventory's helpers."""

    def __init__(self, rows: int, seed: int, using: str) -> None:
        self.values = Values(rows, seed, using)
        self.rng = self.values.rng
        self.n_authors = max(3, rows // 1000)
        self.n_revisions = max(3, rows // 5)
        self.n_documents = max(3, rows - self.n_authors - self.n_revisions)
        self.sentences = [self._sentence() for _ in range(SENTENCES)]

    def _sentence(self) -> str:
        rng = self.rng
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 16))]
        if rng.random() < 0.3:
            words.insert(rng.randint(0, len(words)), rng.choice(TRICKY_TEXT))
        return " ".join(words).capitalize() + rng.choice((".", ".", ".", "!", "?", "…"))

    def prose(self, low: int, high: int) -> str:
        """Between `low` and `high` sentences from the pool, in paragraphs."""
        rng = self.rng
        chosen = rng.choices(self.sentences, k=rng.randint(low, high))
        return "\n\n".join(" ".join(chosen[i : i + 4]) for i in range(0, len(chosen), 4))

    def authors(self) -> Iterator[Author]:
        values = self.values
        for i in range(self.n_authors):
            yield Author(
                id=i + 1,
                name=f"{self.rng.choice(WORDS)} {i}",
                email=f"author{i}@example.com" if i % 4 else "",
                biography=self.prose(0, 6),
                profile={"languages": values.json(), "links": [f"https://example.com/{i}"]},
                joined=values.when(),
            )

    def documents(self) -> Iterator[Document]:
        values, rng = self.values, self.rng
        for i in range(self.n_documents):
            created = values.when()
            yield Document(
                id=i + 1,
                uid=values.uuid(),
                author_id=rng.randint(1, self.n_authors),
                title=rng.choice(self.sentences)[:200],
                summary=self.prose(0, 2),
                body=self.prose(3, 12),
                metadata={"tags": rng.sample(WORDS, 3), "source": values.json(), "n": i},
                attachment=values.binary(512),
                price=values.decimal(10, 4),
                weight=values.decimal(6, 6, nullable=True),
                score=values.decimal(4, 3),
                created=created,
                modified=max(created, values.when()),
                published=None if i % 7 == 3 else values.when(),
                revision=rng.randint(1, 40),
            )

    def revisions(self) -> Iterator[Revision]:
        values, rng = self.values, self.rng
        # Revision numbers count up per document, so (document, number) stays unique.
        numbers: dict[int, int] = {}
        for i in range(self.n_revisions):
            document = rng.randint(1, self.n_documents)
            numbers[document] = number = numbers.get(document, 0) + 1
            diff = "\n".join(f"{rng.choice('+- ')} {s}" for s in rng.choices(self.sentences, k=4))
            yield Revision(
                id=i + 1,
                document_id=document,
                number=number,
                diff=diff,
                changes=[values.json() for _ in range(rng.randint(0, 3))],
                checksum=hashlib.sha256(diff.encode()).digest(),
                amount=values.decimal(8, 2, nullable=True),
                saved=values.when(),
            )


def generate(rows: int, seed: int = 1, using: str = "default") -> dict[str, int]:
    """Fill the text-heavy tables of a migrated database with about ``rows`` rows."""
    if rows < 1:
        raise ValueError("rows must be positive")
    for model in (Author, Document, Revision):
        if model._base_manager.using(using).exists():
            raise DatabaseNotEmptyError(
                f"database {using!r} already contains {model._meta.label} rows; "
                "generate into a freshly migrated database"
            )
    gen = _TextGenerator(rows, seed, using)
    with transaction.atomic(using=using):
        gen.values.insert(Author, gen.authors())
        gen.values.insert(Document, gen.documents())
        gen.values.insert(Revision, gen.revisions())
        gen.values.reset_sequences()
    return gen.values.counts
