"""Deterministic generator of realistic, edge-case-heavy inventory data.

The same ``rows`` and ``seed`` always produce the same database content: every value comes from
one ``random.Random(seed)``, primary keys are explicit, and timestamps are a fixed base plus
random offsets. Values are chosen so that SQLite, PostgreSQL and MariaDB store them identically
(e.g. decimals have at most 15 significant digits because SQLite keeps decimals as REAL).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import itertools
import random
import uuid
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any, TypeVar

from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.core.management.color import no_style
from django.db import connections, models, transaction
from django.db.models import Value

from .models import (
    Assessor,
    Attachment,
    Comment,
    Company,
    Grade,
    GradeScheme,
    Part,
    PartCategory,
    SpecialGrade,
    StockItem,
    StockLocation,
    StockMovement,
    SupplierPart,
    Tag,
    TrackedStockItem,
    Unit,
)

BATCH_SIZE = 2000
BASE_TIME = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
# 1970-01-02 .. 2029-12-31: keeps every datetime inside the 1970-2030 window on all backends.
MIN_OFFSET_US = -(30 * 365 - 1) * 86_400 * 10**6
MAX_OFFSET_US = 30 * 365 * 86_400 * 10**6
INT64_MAX = 2**63 - 1

T = TypeVar("T")

# Strings that trip up encoders, CSV/SQL escaping and collations. No NUL: PostgreSQL rejects it.
TRICKY_TEXT = [
    "",
    "plain ascii",
    "Größe: 10 µm ± 0,5 °C",
    "日本語の説明テキスト",
    "Ελληνικά και русский текст",
    "עברית ועربي",
    "rocket emoji 🚀🔧✨ and flags 🇩🇪",
    "single ' double \" backtick ` quotes",
    "back\\slash \\n is not a newline \\\\",
    "line one\nline two\r\nline three\rline four",
    "tab\tseparated\tvalues",
    "  leading and trailing spaces  ",
    "'); DROP TABLE inventory_part; --",
    "<b>html</b> &amp; entities &lt;",
    "percent %s %(name)s {0} {{braces}}",
    "combining e\u0301 versus precomposed é",
    "zero\u200bwidth and\u00a0nbsp and \u2028line separator",
    "math 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 outside the BMP",
    "null-looking: null None NULL \\N",
    '{"looks": ["like", "json"]}',
]
WORDS = [
    "resistor", "capacitor", "bolt", "washer", "Mutter", "Schraube", "ёлка", "ネジ", "sensor",
    "widget", "gear", "bracket", "cable", "connector", "fuse", "LED", "relay", "spring",
    "bearing", "valve", "Ölfilter", "café", "naïve", "crème", "façade", "🚀booster",
]  # fmt: skip
CURRENCIES = ["USD", "EUR", "GBP", "JPY", "CHF", "CNY", "AUD"]
UNITS = [
    ("metre", "m", "SI base unit of length"),
    ("kilogram", "kg", "SI base unit of mass"),
    ("second", "s", "SI base unit of time"),
    ("piece", "pcs", ""),
    ("litre", "L", "0.001 m³"),
    ("ohm", "Ω", "V/A"),
    ("micrometre", "µm", "1e-6 m"),
    ("degree Celsius", "°C", "K − 273.15"),
    ("hour", "h", "3600 s"),
    ("ampere", "A", "SI base unit of electric current"),
]
TAGS = [
    "rohs", "reach", "obsolete", "new", "hot", "fragile", "heavy", "esd", "smd", "tht",
    "Übergröße", "日本製", "🚀 fast", "⚠ hazard", "eco", "import", "export", "prototype",
    "military", "automotive", "medical", "consumer", "industrial", "spare", "kit", "bulk",
    "reel", "tray", "tube", "cut-tape",
]  # fmt: skip
FLOATS = [0.1, 1e-300, 1.7e308, -1.7e308, 2.5e-10, 123456.789, -0.5, 0.0, 1.0, 3.141592653589793]
STOCK_STATUS = [10, 20, 50, 55, 60, 65, 70]
GROUPS = ["Engineering", "Purchasing", "Lager & Logistik"]
PLUGINS = "example_plugins."  # plugin apps live in this package
SENSORS_APP = "example_plugins.sensors"  # the plugin app; installed only while it is active
# Apps whose auto_now/auto_now_add fields the generator overrides with generated timestamps.
TIMESTAMP_APPS = ("inventory", "common", "sensors")


class DatabaseNotEmptyError(Exception):
    """Raised when the target database already contains generated data."""


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Yield lists of up to ``size`` items (itertools.batched is Python 3.12+)."""
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch


@contextlib.contextmanager
def deterministic_timestamps() -> Iterator[None]:
    """Temporarily disable auto_now/auto_now_add so bulk_create keeps generated timestamps."""
    saved: list[tuple[models.DateField, bool, bool]] = []
    try:
        models_ = [
            model
            for config in apps.get_app_configs()
            if config.label in TIMESTAMP_APPS
            for model in config.get_models()
        ]
        for model in models_:
            for field in model._meta.local_fields:
                if isinstance(field, models.DateField) and (field.auto_now or field.auto_now_add):
                    saved.append((field, field.auto_now, field.auto_now_add))
                    field.auto_now = field.auto_now_add = False
        yield
    finally:
        for field, auto_now, auto_now_add in saved:
            field.auto_now, field.auto_now_add = auto_now, auto_now_add


class _Generator:
    """Holds the random state and the planned sizes; one method per table group."""

    def __init__(self, rows: int, seed: int, using: str) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.using = using
        self.counts: dict[str, int] = {}
        n = rows
        self.n_users = min(50, max(3, n // 2000))
        self.n_companies = max(3, n // 200)
        self.n_categories = max(5, n // 100)
        self.n_locations = max(5, n // 100)
        self.n_parts = max(10, n // 8)
        self.n_stock = max(10, n // 4)
        self.n_comments = max(3, n // 20)
        self.n_attachments = max(3, n // 100)
        self.n_sessions = 5
        self.n_logentries = 10
        # Sensors plugin tables, filled only while the plugin app is installed.
        self.n_sensors = max(3, n // 200)
        self.n_readings = max(10, n // 40)
        # Expected sizes of the other tables; movements absorb the rest so the total is ~rows.
        planned = (
            self.n_users * 3.5  # users + group memberships + user permissions
            + len(GROUPS) * 9  # groups + group permissions
            + self.n_companies * 2  # companies + contacts
            + len(UNITS)
            + len(TAGS)
            + self.n_categories
            + self.n_locations
            + self.n_parts * 2.8  # parts + tags (avg 1) + supplier parts (avg 0.8)
            + self.n_stock * 1.2  # stock items + tracked children (1/5)
            + self.n_comments
            + self.n_attachments
            + self.n_sessions
            + self.n_logentries
        )
        self.n_movements = max(n // 8, n - int(planned))

    # -- value helpers -------------------------------------------------------------------------

    def when(self) -> dt.datetime:
        """Return an aware UTC datetime in 1970-2030 with microseconds."""
        return BASE_TIME + dt.timedelta(microseconds=self.rng.randint(MIN_OFFSET_US, MAX_OFFSET_US))

    def date(self) -> dt.date:
        """Return a date in 1970-2030."""
        return self.when().date()

    def uuid(self) -> uuid.UUID:
        """Return a random version-4 UUID drawn from the seeded generator."""
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def text(self, words: int = 6) -> str:
        """Return a sentence mixing plain words with one tricky string."""
        rng = self.rng
        parts = [rng.choice(WORDS) for _ in range(rng.randint(0, words))]
        parts.insert(rng.randint(0, len(parts)), rng.choice(TRICKY_TEXT))
        return " ".join(parts)

    def decimal(self, int_digits: int, places: int, nullable: bool = False) -> Decimal | None:
        """Return a decimal fitting (int_digits, places) with at most 15 significant digits."""
        rng = self.rng
        roll = rng.random()
        if nullable and roll < 0.05:
            return None
        if roll < 0.08:
            return Decimal(0)
        digits = rng.randint(1, min(15, int_digits + places))
        mantissa = rng.randint(10 ** (digits - 1), 10**digits - 1) * rng.choice((1, -1))
        exponent = rng.randint(-places, int_digits - digits)
        return Decimal(mantissa).scaleb(exponent)

    def duration(self) -> dt.timedelta | None:
        """Return a timedelta, sometimes negative, with microseconds, or None."""
        rng = self.rng
        if rng.random() < 0.2:
            return None
        return dt.timedelta(microseconds=rng.randint(-(10**11), 10**13))

    def json(self, depth: int = 0) -> Any:
        """Return a JSON document of varied shape (no floats that PostgreSQL would reformat)."""
        rng = self.rng
        kind = rng.randrange(8 if depth < 3 else 5)
        if kind == 0:
            return None
        if kind == 1:
            return rng.choice((True, False))
        if kind == 2:
            return rng.choice((0, -1, 42, 2**53 + 1, -(2**63), 0.5, -2.25, 3.14159))
        if kind == 3:
            return rng.choice(TRICKY_TEXT)
        if kind == 4:
            return rng.choice(WORDS)
        if kind == 5:
            return [self.json(depth + 1) for _ in range(rng.randint(0, 4))]
        keys = rng.sample(WORDS + ["", "key with space", "ключ", "🔑"], rng.randint(0, 4))
        return {key: self.json(depth + 1) for key in keys}

    def binary(self, max_len: int) -> bytes | None:
        """Return random bytes of 0..max_len length, sometimes empty, sometimes None."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.1:
            return None
        if roll < 0.15:
            return b""
        return rng.randbytes(rng.randint(1, max_len))

    # -- insertion -----------------------------------------------------------------------------

    def insert(self, model: type[models.Model], objs: Iterable[models.Model]) -> None:
        """Bulk-insert objects in batches without materialising them all at once."""
        manager = model._base_manager.db_manager(self.using)
        for batch in _batched(objs, BATCH_SIZE):
            manager.bulk_create(batch, batch_size=BATCH_SIZE)
            self.count(model, len(batch))

    def count(self, model: type[models.Model], n: int) -> None:
        """Add n rows to the per-model summary."""
        label = model._meta.label
        self.counts[label] = self.counts.get(label, 0) + n

    def ctype(self, model: type[models.Model]) -> ContentType:
        """Return the content type of model in the target database."""
        return ContentType.objects.db_manager(self.using).get_for_model(model)

    # -- tables --------------------------------------------------------------------------------

    def auth(self) -> None:
        """Create groups, users (one superuser) and their permission/membership rows."""
        rng = self.rng
        # Ordered by natural key so the choice does not depend on permission id assignment.
        # Plugin permissions are left out: the data is the same whether or not a plugin is active.
        plugin_labels = [c.label for c in apps.get_app_configs() if c.name.startswith(PLUGINS)]
        perms = list(
            Permission.objects.using(self.using)
            .exclude(content_type__app_label__in=plugin_labels)
            .order_by("content_type__app_label", "content_type__model", "codename")
            .values_list("id", flat=True)
        )
        self.insert(Group, (Group(id=i + 1, name=name) for i, name in enumerate(GROUPS)))
        self.insert(
            Group.permissions.through,
            (
                Group.permissions.through(group_id=g + 1, permission_id=p)
                for g in range(len(GROUPS))
                for p in sorted(rng.sample(perms, 8))
            ),
        )
        names = ["admin", "alice", "zoë"] + [f"user{i}" for i in range(3, self.n_users)]

        def user(i: int) -> User:
            digest = hashlib.sha256(f"{self.seed}:{i}".encode()).digest()
            # A well-formed but cheap hash string: make_password() would cost ~0.5 s per user.
            password = f"pbkdf2_sha256$1000000$salt{i}${base64.b64encode(digest).decode()}"
            if i % 7 == 6:
                password = "!" + base64.b64encode(digest).decode()[:40]  # unusable password
            return User(
                id=i + 1,
                username=names[i],
                password=password,
                email=f"{names[i]}@example.com" if i % 5 else "",
                first_name=rng.choice(["", "Zoë", "José", "Ünal", "名前", "O'Brien"]),
                last_name=rng.choice(["", "Müller", "Smith", "D'Arcy", "🚀"]),
                is_superuser=i == 0,
                is_staff=i < 2,
                is_active=i % 9 != 8,
                date_joined=self.when(),
                last_login=None if i % 4 == 3 else self.when(),
            )

        self.insert(User, (user(i) for i in range(self.n_users)))
        self.insert(
            User.groups.through,
            (
                User.groups.through(user_id=u + 1, group_id=g + 1)
                for u in range(1, self.n_users)
                for g in sorted(rng.sample(range(len(GROUPS)), rng.randint(1, 2)))
            ),
        )
        self.insert(
            User.user_permissions.through,
            (
                User.user_permissions.through(user_id=u + 1, permission_id=p)
                for u in range(1, self.n_users)
                for p in sorted(rng.sample(perms, rng.randint(0, 4)))
            ),
        )

    def reference_data(self) -> None:
        """Create units, tags and companies with their contacts."""
        rng = self.rng
        self.insert(
            Unit,
            (Unit(id=i + 1, name=n, symbol=s, definition=d) for i, (n, s, d) in enumerate(UNITS)),
        )
        self.insert(
            Tag,
            (
                Tag(id=i + 1, name=name, color=rng.choice(["", "#ff0000", "blue", "#00FF00aa"]))
                for i, name in enumerate(TAGS)
            ),
        )

        def company(i: int) -> Company:
            suffix = rng.choice(["GmbH", "Ltd", "Inc.", "株式会社", "S.A."])
            # The index keeps names unique even under case/accent-insensitive collations.
            name = f"{rng.choice(WORDS).capitalize()} {suffix} {i}"
            return Company(
                id=i + 1,
                name=name,
                website=rng.choice(
                    ["", f"https://c{i}.example.com/", "http://例え.jp/ä?q=1&x=%20"]
                ),
                email=rng.choice(["", f"sales{i}@example.com"]),
                is_supplier=rng.random() < 0.8,
                is_customer=rng.random() < 0.4,
                notes=self.text() if rng.random() < 0.5 else "",
                created=self.when(),
                currency=rng.choice(CURRENCIES),
            )

        self.insert(Company, (company(i) for i in range(self.n_companies)))
        self.insert(
            Company.contacts.through,
            (
                Company.contacts.through(company_id=c + 1, user_id=u + 1)
                for c in range(self.n_companies)
                for u in sorted(rng.sample(range(self.n_users), rng.choice((0, 1, 2, 3))))
            ),
        )

    def trees(self) -> None:
        """Create the category and location trees (self-referencing FKs, depth >= 3)."""
        rng = self.rng
        # Category ids are a random permutation of 1..n, so many children have a smaller id than
        # their parent: loaders that insert in primary-key order break on this.
        cat_ids = list(range(1, self.n_categories + 1))
        rng.shuffle(cat_ids)
        self.category_ids = cat_ids
        self.insert(PartCategory, self._tree(PartCategory, cat_ids, "Category"))
        self.location_ids = list(range(1, self.n_locations + 1))
        self.insert(StockLocation, self._tree(StockLocation, self.location_ids, "Location"))

    def _tree(self, model: type[models.Model], ids: list[int], kind: str) -> Iterator[Any]:
        """Yield tree nodes parents-first; the first three form a chain of depth 3."""
        rng = self.rng
        for k, node_id in enumerate(ids):
            if k == 0 or (k >= 3 and rng.random() < 0.1):
                parent = None
            elif k < 3:
                parent = ids[k - 1]
            else:
                parent = ids[rng.randrange(k)]
            yield model(
                id=node_id,
                name=f"{kind} {rng.choice(WORDS)} {k}",
                description=self.text() if rng.random() < 0.7 else "",
                parent_id=parent,
            )

    def part_id(self, index: int) -> int:
        """Map a part index to its primary key, leaving gaps as deleted rows would."""
        return index + 1 + (index // 10) * 3

    def parts(self) -> None:
        """Create parts, their tags, supplier parts and close the Part<->SupplierPart cycle."""
        rng = self.rng
        ips = ["192.168.0.1", "10.0.0.255", "2001:db8::1", "::1", "fe80::1ff:fe23:4567:890a"]

        def part(i: int) -> Part:
            roll = rng.random()
            sort_key = (
                INT64_MAX if roll < 0.02
                else -INT64_MAX if roll < 0.04
                else 0 if roll < 0.1
                else rng.randint(-INT64_MAX, INT64_MAX)
            )  # fmt: skip
            return Part(
                id=self.part_id(i),
                name=f"{rng.choice(WORDS)} {rng.choice(TRICKY_TEXT)[:40]} {i}",
                IPN=None if rng.random() < 0.2 else f"IPN-{i:07d}",
                description=self.text(12),
                category_id=rng.choice(self.category_ids) if rng.random() < 0.95 else None,
                units_id=rng.randint(1, len(UNITS)) if rng.random() < 0.7 else None,
                active=rng.random() < 0.9,
                virtual=rng.random() < 0.05,
                trackable=rng.choice((None, True, False)),
                minimum_stock=self.decimal(18, 10),
                weight_kg=rng.choice(FLOATS + [None, rng.uniform(-1e6, 1e6)]),
                lead_time=self.duration(),
                uuid=self.uuid(),
                metadata=self.json() if rng.random() < 0.5 else None,
                image=f"parts/{i}_{rng.choice(['a.png', 'ä b.jpg', 'x.svg'])}"
                if rng.random() < 0.3
                else "",
                created=self.when(),
                last_modified=self.when(),
                website=f"https://parts.example.com/p/{i}?ref=a&b=ü" if rng.random() < 0.3 else "",
                barcode_hash=f"{rng.getrandbits(256):064x}" if rng.random() < 0.4 else "",
                sort_key=sort_key,
                revision=rng.choice((0, 1, -1, 32767, -32768, rng.randint(-500, 500))),
                launched=self.date() if rng.random() < 0.6 else None,
                slug=f"part-{i}" if rng.random() < 0.5 else "",
                contact_email=f"p{i}@example.org" if rng.random() < 0.3 else "",
                server_ip=rng.choice(ips) if rng.random() < 0.2 else None,
                # default_supplier stays NULL here: MariaDB checks FKs immediately, so the
                # cycle is closed by an UPDATE once the supplier parts exist.
            )

        self.insert(Part, (part(i) for i in range(self.n_parts)))
        through = Part.tags.through
        self.insert(
            through,
            (
                through(part_id=self.part_id(i), tag_id=t + 1)
                for i in range(self.n_parts)
                for t in sorted(rng.sample(range(len(TAGS)), rng.choice((0, 0, 1, 1, 2, 2))))
            ),
        )
        self._supplier_parts()

    def _supplier_parts(self) -> None:
        """Create supplier parts in chunks and point some parts' default_supplier at them."""
        rng = self.rng
        sp_id = 0
        db_parts = Part._base_manager.db_manager(self.using)
        for chunk in _batched(range(self.n_parts), BATCH_SIZE // 2):
            rows: list[SupplierPart] = []
            defaults: list[Part] = []
            for i in chunk:
                suppliers = rng.sample(range(self.n_companies), rng.choice((0, 0, 1, 1, 1, 2)))
                first = sp_id + 1
                for c in suppliers:
                    sp_id += 1
                    rows.append(
                        SupplierPart(
                            id=sp_id,
                            part_id=self.part_id(i),
                            supplier_id=c + 1,
                            SKU=f"SKU-{c}-{i}-{rng.choice(['', 'ß', 'x/y', 'a b'])}",
                            unit_price=self.decimal(18, 12, nullable=True),
                            pack_quantity=rng.choice((1, 1, 10, 100, 2147483647)),
                            updated=self.when(),
                        )
                    )
                if suppliers and rng.random() < 0.6:
                    default = rng.randint(first, sp_id)
                    defaults.append(Part(id=self.part_id(i), default_supplier_id=default))
            self.insert(SupplierPart, rows)
            db_parts.bulk_update(defaults, ["default_supplier"], batch_size=500)

    def stock_id(self, index: int) -> int:
        """Map a stock item index to its primary key (with gaps)."""
        return index * 2 + 1 if index % 3 else index * 2 + 2

    def stock(self) -> None:
        """Create stock items, the tracked (MTI child) rows, and movements."""
        rng = self.rng
        tracked_fields = [
            f
            for f in TrackedStockItem._meta.local_concrete_fields
            if not getattr(f, "generated", False)  # Field.generated exists from Django 5.0
        ]
        for chunk in _batched(range(self.n_stock), BATCH_SIZE):
            items: list[StockItem] = []
            children: list[TrackedStockItem] = []
            for i in chunk:
                item = StockItem(
                    id=self.stock_id(i),
                    part_id=self.part_id(rng.randrange(self.n_parts)),
                    location_id=rng.choice(self.location_ids) if rng.random() < 0.9 else None,
                    quantity=self.decimal(10, 5),
                    batch=rng.choice(["", f"B{i:05d}", "Charge Ä/1"]),
                    expiry_date=self.date() if rng.random() < 0.3 else None,
                    updated=self.when(),
                    created=self.when(),
                    status=rng.choice(STOCK_STATUS),
                    notes=self.text() if rng.random() < 0.3 else "",
                )
                items.append(item)
                if rng.random() < 0.2:
                    checked = self.when().time() if rng.random() < 0.7 else None
                    children.append(
                        TrackedStockItem(
                            stockitem_ptr_id=item.id,
                            serial=f"SN{rng.getrandbits(40):010X}",
                            firmware=self.binary(256),
                            last_checked_at=checked,
                        )
                    )
            self.insert(StockItem, items)
            self._insert_child_rows(TrackedStockItem, tracked_fields, children)
        self.insert(StockMovement, (self._movement() for _ in range(self.n_movements)))

    def _insert_child_rows(
        self, model: type[models.Model], fields: list[models.Field], objs: list[models.Model]
    ) -> None:
        """Insert only the child table rows of an MTI model (bulk_create refuses MTI models)."""
        if not objs:
            return
        connection = connections[self.using]
        qn = connection.ops.quote_name
        sql = "INSERT INTO {} ({}) VALUES ({})".format(
            qn(model._meta.db_table),
            ", ".join(qn(f.column) for f in fields),
            ", ".join(["%s"] * len(fields)),
        )
        params = [
            [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields]
            for obj in objs
        ]
        with connection.cursor() as cursor:
            cursor.executemany(sql, params)
        self.count(model, len(objs))

    def _movement(self) -> StockMovement:
        """Build one stock movement with a UUID key and a JSON (or SQL NULL) payload."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.1:
            payload: Any = None  # SQL NULL
        elif roll < 0.13:
            payload = Value(None, output_field=models.JSONField())  # JSON null, not SQL NULL
        else:
            payload = self.json()
            if payload is None:
                payload = {"note": None}
        return StockMovement(
            id=self.uuid(),
            item_id=self.stock_id(rng.randrange(self.n_stock)),
            quantity=self.decimal(10, 5),
            timestamp=self.when(),
            user_id=rng.randint(1, self.n_users) if rng.random() < 0.8 else None,
            kind=rng.choice(StockMovement.Kind.values),
            payload=payload,
        )

    def generic(self) -> None:
        """Create comments and attachments pointing at parts, stock items and companies."""
        rng = self.rng
        part_ct, stock_ct, company_ct = (
            self.ctype(Part).id,
            self.ctype(StockItem).id,
            self.ctype(Company).id,
        )

        def target() -> tuple[int, int]:
            roll = rng.random()
            if roll < 0.5:
                return part_ct, self.part_id(rng.randrange(self.n_parts))
            if roll < 0.9:
                return stock_ct, self.stock_id(rng.randrange(self.n_stock))
            return company_ct, rng.randint(1, self.n_companies)

        def comment(i: int) -> Comment:
            ct, obj = target()
            return Comment(
                id=i + 1,
                content_type_id=ct,
                object_id=obj,
                author_id=rng.randint(1, self.n_users) if rng.random() < 0.9 else None,
                text=self.text(20),
                created=self.when(),
            )

        self.insert(Comment, (comment(i) for i in range(self.n_comments)))

        def attachment(i: int) -> Attachment:
            ct, obj = target()
            # The first two attachments pin the edge cases: empty bytes and SQL NULL.
            data = b"" if i == 0 else None if i == 1 else self.binary(2000)
            return Attachment(
                id=i + 1,
                content_type_id=ct,
                object_id=obj,
                file=f"attachments/{i}/{rng.choice(['report.pdf', 'Prüfbericht ü.pdf', 'a'])}",
                data=data,
                size=len(data or b""),
                uploaded=self.when(),
            )

        self.insert(Attachment, (attachment(i) for i in range(self.n_attachments)))

    def admin_and_sessions(self) -> None:
        """Create a few sessions and admin log entries."""
        rng = self.rng
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        self.insert(
            Session,
            (
                Session(
                    session_key="".join(rng.choices(alphabet, k=32)),
                    session_data=base64.b64encode(rng.randbytes(60)).decode() + ":1uAbCd:sig",
                    expire_date=self.when(),
                )
                for _ in range(self.n_sessions)
            ),
        )
        part_ct = self.ctype(Part)

        def entry(i: int) -> LogEntry:
            flag = rng.choice((1, 2, 3))
            message = ['[{"added": {}}]', '[{"changed": {"fields": ["Name"]}}]', ""][flag - 1]
            obj = self.part_id(rng.randrange(self.n_parts))
            return LogEntry(
                id=i + 1,
                action_time=self.when(),
                user_id=1,
                content_type=part_ct,
                object_id=str(obj),
                object_repr=f"part {obj} – ü 🚀"[:200],
                action_flag=flag,
                change_message=message,
            )

        self.insert(LogEntry, (entry(i) for i in range(self.n_logentries)))

    def settings(self) -> None:
        """Change a start-up setting and add one (INSTANCE_ID stays: random per installation)."""
        setting = apps.get_model("common", "Setting")
        manager = setting._base_manager.db_manager(self.using)
        site_name, site_updated = "Beispiel-Lager Größe µ – 在庫 🚀", self.when()
        if not manager.filter(key="SITE_NAME").update(value=site_name, updated=site_updated):
            self.insert(setting, [setting(key="SITE_NAME", value=site_name, updated=site_updated)])
        printer = 'Zebra ZD421 "Lager 2"\nfallback: lp0'
        self.insert(setting, [setting(key="LABEL_PRINTER", value=printer, updated=self.when())])

    def plugin_configs(self) -> None:
        """Record every known plugin that has no PluginConfig row yet, inactive (as InvenTree
        does for discovered plugins); rows made by ``plugin enable`` stay as they are."""
        from plugins.registry import known_plugins

        config = apps.get_model("plugins", "PluginConfig")
        existing = set(config._base_manager.using(self.using).values_list("key", flat=True))
        self.insert(
            config,
            [
                config(
                    key=key,
                    name=key.replace("_", " ").title(),
                    package=package,
                    active=False,
                    metadata={"discovered": True, "note": "Größe 🚀", "seed": self.seed},
                )
                for key, package in known_plugins().items()
                if key not in existing
            ],
        )

    def sensors(self) -> None:
        """Fill the sensors plugin tables (only called while the plugin is installed)."""
        rng = self.rng
        sensor_model = apps.get_model("sensors", "Sensor")
        reading_model = apps.get_model("sensors", "SensorReading")

        def sensor(i: int) -> models.Model:
            config = self.json() if rng.random() < 0.7 else {}
            return sensor_model(
                id=i + 1,
                part_id=self.part_id(rng.randrange(self.n_parts)),
                name=f"{rng.choice(['Temp', 'Druck', 'Feuchte', '温度', 'Vibration'])} {i}",
                serial=f"S-{i:05d}-{rng.getrandbits(32):08x}",
                offset=self.decimal(6, 6),
                calibrated_at=self.when() if rng.random() < 0.8 else None,
                config={"note": None} if config is None else config,  # NOT NULL column
            )

        self.insert(sensor_model, (sensor(i) for i in range(self.n_sensors)))

        def reading(i: int) -> models.Model:
            return reading_model(
                id=i + 1,
                sensor_id=rng.randint(1, self.n_sensors),
                taken_at=self.when(),
                value=rng.choice(FLOATS + [rng.uniform(-1e3, 1e3)]),
                raw=self.binary(64),
            )

        self.insert(reading_model, (reading(i) for i in range(self.n_readings)))

    def grades(self) -> None:
        """A few grades whose natural keys point to rows further on (successors; schemes and
        assessors naming each other), and multi-table children. Fixed, and made last: the
        other tables get the same data as before these models existed."""
        self.insert(Grade, [Grade(id=i + 1, code=f"G{i + 1}") for i in range(4)])
        for i, note in enumerate(["bronze", "rare"]):  # parent and child rows, ids kept
            SpecialGrade.objects.using(self.using).create(id=i + 5, code=f"G{i + 5}", note=note)
        self.count(SpecialGrade, 2)
        self.count(Grade, 2)
        for code, successor in [(1, 3), (2, 4), (3, 2), (4, 6), (5, 1), (6, 5)]:
            Grade.objects.using(self.using).filter(id=code).update(successor_id=successor)
        self.insert(GradeScheme, [GradeScheme(id=1, name="standard", default_id=2),
                                  GradeScheme(id=2, name="strict", default_id=5)])  # fmt: skip
        self.insert(Assessor, [Assessor(id=1, name="auditor 1", scheme_id=2),
                               Assessor(id=2, name="auditor 2", scheme_id=1)])  # fmt: skip
        GradeScheme.objects.using(self.using).filter(id=1).update(owner_id=2)
        GradeScheme.objects.using(self.using).filter(id=2).update(owner_id=1)

    def reset_sequences(self) -> None:
        """Move PostgreSQL sequences past the explicit primary keys (no-op elsewhere)."""
        connection = connections[self.using]
        touched = [apps.get_model(label) for label in self.counts]
        sql = connection.ops.sequence_reset_sql(no_style(), touched)
        if sql:
            with connection.cursor() as cursor:
                for statement in sql:
                    cursor.execute(statement)


def _ensure_empty(using: str) -> None:
    """Refuse to run on a database that already holds users or inventory data."""
    # common.Setting and plugins.PluginConfig are left out: migrate creates start-up settings,
    # and plugins are configured before generating.
    checked: list[type[models.Model]] = [User, Group, Part, Company, Session]
    if apps.is_installed(SENSORS_APP):
        checked.append(apps.get_model("sensors", "Sensor"))
    for model in checked:
        if model._base_manager.using(using).exists():
            raise DatabaseNotEmptyError(
                f"database {using!r} already contains {model._meta.label} rows; "
                "generate into a freshly migrated database"
            )


def generate(rows: int, seed: int = 1, using: str = "default") -> dict[str, int]:
    """Fill a freshly migrated database with about ``rows`` deterministic rows."""
    if rows < 1:
        raise ValueError("rows must be positive")
    _ensure_empty(using)
    gen = _Generator(rows, seed, using)
    steps: list[Callable[[], None]] = [
        gen.auth,
        gen.reference_data,
        gen.trees,
        gen.parts,
        gen.stock,
        gen.generic,
        gen.admin_and_sessions,
        # Last, so the tables above get the same data whether or not the plugin is active.
        gen.settings,
        gen.plugin_configs,
    ]
    if apps.is_installed(SENSORS_APP):
        steps.append(gen.sensors)
    steps.append(gen.grades)
    with deterministic_timestamps(), transaction.atomic(using=using):
        for step in steps:
            step()
        gen.reset_sequences()
    return gen.counts


def write_media_files(limit: int, using: str = "default") -> int:
    """Write a small deterministic file through the default storage for each of the first
    `limit` file names the parts and attachments hold (those missing); return how many."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from .models import Attachment, Part

    names = sorted(
        {*Part._base_manager.using(using).exclude(image="").values_list("image", flat=True)}
        | {*Attachment._base_manager.using(using).values_list("file", flat=True)}
    )[:limit]
    written = 0
    for name in names:
        if not default_storage.exists(name):
            content = f"example media file {name}\n".encode() * (len(name) % 5 + 1)
            if default_storage.save(name, ContentFile(content)) != name:
                raise RuntimeError(f"the storage renamed {name}")
            written += 1
    return written
