"""make demo: generate example data in SQLite, export it, import it into a fresh database, compare.

Runs the real commands as a user would, each in its own process; prints per-table row counts
and whether each table's content digest matches. Exits non-zero when any table differs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"
MANAGE = [sys.executable, str(ROOT / "example" / "manage.py")]
ROWS = os.environ.get("DEMO_ROWS", "20000")


def run(args: list[str], env: dict[str, str], label: str) -> subprocess.CompletedProcess:
    """Run one step, echoing the command and its time; stop the demo if it fails."""
    print(f"$ {' '.join(Path(a).name if a.endswith('.py') else a for a in args)}", flush=True)
    started = time.monotonic()
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"demo failed at: {label}")
    print(f"  ({label}: {time.monotonic() - started:.1f}s)")
    return result


def main() -> int:
    """Run the demo end to end."""
    if DEMO.exists():
        shutil.rmtree(DEMO)
    DEMO.mkdir()
    source, target, dump = (
        DEMO / "source.sqlite3",
        DEMO / "target.sqlite3",
        DEMO / "dump.ndjson.zst",
    )
    # Two installations, as in real life: each process sees one database as its own.
    env = {**os.environ, "EXAMPLE_DB": "sqlite", "EXAMPLE_DB_NAME": str(source)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    target_env = {**env, "EXAMPLE_DB_NAME": str(target)}
    run([*MANAGE, "migrate", "-v0"], env, "migrate source")
    run([*MANAGE, "migrate", "-v0"], target_env, "migrate target")
    # The source runs a plugin with its own tables; the target has never seen it.
    run([*MANAGE, "plugin", "enable", "sensors"], env, "enable the sensors plugin in the source")
    run([*MANAGE, "generate", "--rows", ROWS], env, f"generate {ROWS} rows")
    run([*MANAGE, "dumpstream", "-o", str(dump)], env, "export")
    inspected = run([sys.executable, "-m", "streamdump", "inspect", str(dump)], env, "inspect")
    print(inspected.stdout.rstrip().splitlines()[-1])
    imported = run([*MANAGE, "loadstream", str(dump)], target_env, "import into the target")
    for line in imported.stderr.splitlines():
        if line.startswith(("Imported", "  ")):
            print(f"  {line.strip()}")

    digest = [sys.executable, "-m", "streamdump", "digest", "--settings",
              "example_project.settings", "--pythonpath", str(ROOT / "example")]  # fmt: skip
    before = json.loads(run(digest, env, "digest source").stdout)
    after = json.loads(run(digest, target_env, "digest target").stdout)

    print(f"\n{'table':<34}{'source rows':>12}{'target rows':>12}  digest")
    mismatches = 0
    for label in sorted(set(before) | set(after)):
        a, b = before.get(label, [0, None]), after.get(label, [0, None])
        same = a == b
        mismatches += not same
        print(f"{label:<34}{a[0]:>12}{b[0]:>12}  {'match' if same else 'DIFFERS'}")
    total = sum(v[0] for v in before.values())
    print(f"{'total':<34}{total:>12}{sum(v[0] for v in after.values()):>12}")
    print(f"\ndump: {dump.relative_to(ROOT)} ({dump.stat().st_size:,} bytes)")
    if mismatches:
        print(f"{mismatches} tables differ")
        return 1
    print("every table identical after export and import")
    return 0


if __name__ == "__main__":
    sys.exit(main())
