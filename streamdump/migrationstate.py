"""Migration states: what a stream's source had applied, and whether the target's code matches it.

The source records what its `django_migrations` table holds, which is more than its code: when
Django applies a squashed migration it records every migration the squash replaces as well, and
applications delete those files (and later the squash's `replaces`) once every installation has
applied the squash. So the header also records, from the source's code, which migrations are
squashes of which, and which applied records that code no longer has (stale records, which
Django ignores).

The target decides like Django's `MigrationLoader.build_graph` would on a database holding the
dump's records: a squash counts as applied when everything it replaces is, and is used in the
graph when all or none of it is; partly applied, the graph uses the replaced migrations. Then
every migration of the target's graph must be applied in the dump, and every migration the dump
applied must be one the target's code knows (as a file, or as replaced by a squash it has).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db.migrations.exceptions import NodeNotFoundError
from django.db.migrations.graph import MigrationGraph
from django.db.migrations.loader import MigrationLoader

Key = tuple[str, str]  # (app_label, migration name), as Django's loader keys migrations


# Within read_once(): (installed apps, MIGRATION_MODULES) -> what load_disk() found.
_READ: dict[tuple[str, ...], tuple[dict[Key, Any], set[str], set[str]]] | None = None


@contextlib.contextmanager
def read_once() -> Iterator[None]:
    """Within the block, the code's migrations are read from disk once per set of installed
    apps: an import checks them two or three times (preflight, upgrade plan), and Django's
    loader imports every migration module again each time."""
    global _READ
    previous, _READ = _READ, {}
    try:
        yield
    finally:
        _READ = previous


def _code_loader() -> MigrationLoader:
    """The migrations of this process's code, read from disk only (no database)."""
    loader = MigrationLoader(None, ignore_no_migrations=True, load=False)
    key = (
        *(app_config.name for app_config in apps.get_app_configs()),
        repr(sorted(getattr(settings, "MIGRATION_MODULES", {}).items())),
    )
    if _READ is not None and key in _READ:
        disk, unmigrated, migrated = _READ[key]
        loader.disk_migrations = dict(disk)
        loader.unmigrated_apps, loader.migrated_apps = set(unmigrated), set(migrated)
        return loader
    loader.load_disk()
    if _READ is not None:
        _READ[key] = (dict(loader.disk_migrations), set(loader.unmigrated_apps),
                      set(loader.migrated_apps))  # fmt: skip
    return loader


def _replacements(loader: MigrationLoader) -> dict[Key, tuple[Key, ...]]:
    return {
        key: tuple(tuple(target) for target in migration.replaces)
        for key, migration in loader.disk_migrations.items()
        if migration.replaces
    }


def _known(loader: MigrationLoader) -> set[Key]:
    """Every migration the code knows: its files, and what its squashes replace."""
    known = set(loader.disk_migrations)
    for replaced in _replacements(loader).values():
        known.update(replaced)
    return known


def source_facts(applied: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """What the header records beside the applied migrations, from the source's code.

    `replacements`: each squash of the code and what it replaces; `stale_migrations`: applied
    records of migrations the code no longer has in any form (Django ignores them).
    """
    loader = _code_loader()
    replacements: dict[str, dict[str, list[list[str]]]] = {}
    for (app, name), replaced in sorted(_replacements(loader).items()):
        replacements.setdefault(app, {})[name] = [list(key) for key in replaced]
    known = _known(loader)
    stale: dict[str, list[str]] = {}
    for app, names in sorted(applied.items()):
        for name in names:
            if (app, name) not in known:
                stale.setdefault(app, []).append(name)
    return {"replacements": replacements, "stale_migrations": stale}


@dataclass
class DumpMigrations:
    """The source's migration state as its header records it."""

    applied: set[Key] = field(default_factory=set)
    replacements: dict[Key, tuple[Key, ...]] = field(default_factory=dict)  # source's squashes
    stale: set[Key] = field(default_factory=set)

    @classmethod
    def from_header(cls, header: dict[str, Any]) -> DumpMigrations:
        """Read the header's migration keys (the last two are absent from older streams)."""

        def keys(per_app: dict[str, Any]) -> set[Key]:
            return {(app, name) for app, names in per_app.items() for name in names}

        replacements = {
            (app, name): tuple(tuple(key) for key in replaced)
            for app, squashes in (header.get("replacements") or {}).items()
            for name, replaced in squashes.items()
        }
        return cls(
            keys(header.get("migrations") or {}),
            replacements,
            keys(header.get("stale_migrations") or {}),
        )


def _label(key: Key) -> str:
    return f"{key[0]}.{key[1]}"


def _depth(key: Key, replacements: dict[Key, tuple[Key, ...]]) -> int:
    # A squash of squashes (Django 6) is decided after the squashes it replaces.
    inner = [_depth(k, replacements) for k in replacements.get(key, ()) if k in replacements]
    return 1 + max(inner, default=0)


@dataclass
class TargetState:
    """The target's graph as Django would build it on a database holding the dump's records."""

    graph: MigrationGraph
    applied: set[Key]
    known: set[Key]
    problems: list[tuple[str, str]]  # (app label, what is wrong)


def target_state(dump: DumpMigrations) -> TargetState:
    """Build the target code's graph, deciding each squash from the dump's records like Django."""
    loader = _code_loader()
    graph = loader.graph = MigrationGraph()
    for key, migration in loader.disk_migrations.items():
        graph.add_node(key, migration)
    for key, migration in loader.disk_migrations.items():
        loader.add_internal_dependencies(key, migration)
    for key, migration in loader.disk_migrations.items():
        loader.add_external_dependencies(key, migration)
    applied = set(dump.applied)
    for squash, replaced in dump.replacements.items():
        if squash in applied:  # the source's squash stands for what it replaced there
            applied.update(replaced)
    replacements = _replacements(loader)
    problems: list[tuple[str, str]] = []
    for key in sorted(replacements, key=lambda k: _depth(k, replacements)):
        if key not in graph.node_map:
            continue  # replaced by an outer squash already
        replaced = replacements[key]
        statuses = [target in applied for target in replaced]
        if all(statuses):
            applied.add(key)
        elif any(statuses):
            applied.discard(key)
        # None applied: a squash recorded on its own was applied as a plain migration (code
        # that had dropped its `replaces`), so its record stands where Django would drop it.
        if all(statuses) or not any(statuses):
            graph.remove_replaced_nodes(key, replaced)
            continue
        graph.remove_replacement_node(key, replaced)
        gone = [t for t in replaced if t not in applied and t not in loader.disk_migrations]
        if gone:
            done = [target for target in replaced if target in applied]
            problems.append(
                (
                    key[0],
                    f"the dump has applied {len(done)} of the {len(replaced)} migrations squashed "
                    f"into {_label(key)}; the target's code no longer has "
                    f"{', '.join(_label(k) for k in gone)} to apply the rest",
                )
            )
    try:
        graph.validate_consistency()
    except NodeNotFoundError as exc:
        app = exc.node[0] if isinstance(exc.node, tuple) else ""
        problems.append((app, f"the target's migrations do not fit the dump's: {exc}"))
    return TargetState(graph, applied, _known(loader), problems)


def _covered(key: Key, dump: DumpMigrations, known: set[Key]) -> bool:
    """Whether a migration the dump applied is one the target's code has in some form."""
    if key in known or key in dump.stale:
        return True  # a stale record: the source's code did not have it either
    if key in dump.replacements and set(dump.replacements[key]) <= known:
        return True  # the source's squash of migrations the target has
    return any(
        key in replaced and squash in known for squash, replaced in dump.replacements.items()
    )


def migration_problems(header: dict[str, Any], app_labels: Iterable[str]) -> list[str]:
    """Differences between the dump's migration state and the target's code, for these apps.

    The target is compared by the migrations its code has (it is migrated before the import),
    so a target that is behind its own code is not a difference.
    """
    scope = set(app_labels)
    dump = DumpMigrations.from_header(header)
    state = target_state(dump)
    problems = [problem for app, problem in state.problems if app in scope or not app]
    graph = state.graph
    for key in sorted(k for k in graph.nodes if k[0] in scope and k not in state.applied):
        later = [k for k in graph.backwards_plan(key) if k != key and k in state.applied]
        if later:
            why = (
                f"although it has applied {_label(later[0])}, which depends on it "
                "(the dump comes from different code)"
            )
        else:
            why = "(the dump is older than the target's code)"
        problems.append(
            f"migration {_label(key)} exists in the target but is not applied in the dump {why}"
        )
    for key in sorted(k for k in dump.applied if k[0] in scope):
        if not _covered(key, dump, state.known):
            problems.append(
                f"migration {_label(key)} is applied in the dump but the target's code does "
                "not have it (the target runs older or different code)"
            )
    return problems


OLDER = "(the dump is older than the target's code)"


def is_older_only(problems: list[str]) -> bool:
    """Whether every difference is a migration the target's code has beyond the dump's state."""
    return bool(problems) and all(problem.endswith(OLDER) for problem in problems)


def dump_state_nodes(header: dict[str, Any], app_labels: Iterable[str]) -> list[Key]:
    """The dump's state as migrate targets: per app, its latest applied migrations (the leaves
    of what it applied), or (app, None) for an app of the target with none applied."""
    state = target_state(DumpMigrations.from_header(header))
    graph = state.graph
    nodes: list[Key] = []
    for app in sorted(set(app_labels) & {key[0] for key in graph.nodes}):
        applied = [k for k in graph.nodes if k[0] == app and k in state.applied]
        leaves = [
            key
            for key in applied
            if not any(
                child[0] == app and child in state.applied for child in graph.node_map[key].children
            )
        ]
        nodes += sorted(leaves) or [(app, None)]  # type: ignore[list-item]
    return nodes
