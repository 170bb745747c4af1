"""Architecture rules a user would notice only when broken: stages stay free of Airflow."""

from __future__ import annotations

import subprocess
import sys

STAGE_MODULES = [
    "mlstack.stages.ingest",
    "mlstack.stages.catalog",
    "mlstack.sources",
    "mlstack.demo.simulator",
]


def test_stage_modules_do_not_import_airflow() -> None:
    code = (
        "import sys, importlib\n"
        f"for m in {STAGE_MODULES!r}: importlib.import_module(m)\n"
        "import pkgutil, mlstack.stages as st\n"
        "for m in pkgutil.iter_modules(st.__path__):\n"
        "    importlib.import_module('mlstack.stages.' + m.name)\n"
        "bad = sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'))\n"
        "print(bad[:5]); sys.exit(1 if bad else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, f"a stage imports airflow: {done.stdout} {done.stderr[-2000:]}"
