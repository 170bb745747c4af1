"""Run ``mlstack ARGS`` in this interpreter, then say which heavy libraries it loaded.

``python tests/cli_imports.py models list credit_default`` prints the command's output, then
on stderr one last line ``heavy modules: <JSON list>`` naming each library of
:data:`HEAVY` that is in ``sys.modules`` after the command ran. The CLI import tests start it
in a fresh interpreter (what a user's ``mlstack`` is), so nothing a test imported counts.
"""

from __future__ import annotations

import json
import sys

#: Libraries a read command must not load (tenths of a second to seconds each); checked by
#: their top-level name. SQLAlchemy and Alembic: on a database at this code's revision the
#: reads are plain SQL (mlstack.store_read); pyiceberg: the catalog is read from its tables.
HEAVY = (
    "mlflow",
    "sklearn",
    "evidently",
    "airflow",
    "pandas",
    "numpy",
    "scipy",
    "pyarrow",
    "pyiceberg",
    "sqlalchemy",
    "alembic",
)
MARKER = "heavy modules: "


def main(args: list[str]) -> int:
    """Run the CLI on ``args``; print the heavy modules it loaded; return its exit code."""
    from mlstack.cli import main as cli

    try:
        cli.main(args, prog_name="mlstack")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    sys.stdout.flush()
    loaded = sorted(name for name in HEAVY if name in sys.modules)
    sys.stderr.write(MARKER + json.dumps(loaded) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
