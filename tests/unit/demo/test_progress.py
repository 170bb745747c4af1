"""The demo's progress off a terminal: a line per story event and per day, each on the pipe
as it happens (flushed, not at exit), from the real timeline code
(:func:`mlstack.demo.timeline.timeline_monitor`) and a real day's summary row."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

#: A monitored day of the story, told through LogLines, then waiting for the test.
SCRIPT = textwrap.dedent(
    """
    import sys
    from datetime import date
    from pathlib import Path

    from mlstack.cli.demo_progress import LogLines
    from mlstack.demo.context import DayResult, DemoContext
    from mlstack.demo.timeline import timeline_monitor

    out = LogLines()
    day = date(2026, 2, 20)
    ctx = DemoContext("credit_default", None, {}, Path("log"), None, [day], on_event=out.event)
    out.stage("preparing Airflow")
    result = DayResult(day, ingest={"features": {"accepted": 298, "rejected": 2},
                                    "labels": {"accepted": 300}})
    result.notes.append("monitor: blocked (estimated roc_auc dropped by 0.06) [waiting]")
    out.day_started(51, 100, day)
    timeline_monitor(ctx, day, {"reason": "performance dropped; waiting for labels: 120 of 500"},
                     "blocked", ["estimated roc_auc dropped by 0.06 below 0.71"], 1)
    out.day_done(51, 100, result)
    sys.stdin.readline()  # hold the pipe open: what the test read was flushed, not at exit
    """
)


def read_lines(proc: subprocess.Popen[bytes], count: int, timeout: float = 120) -> list[str]:
    """The first ``count`` lines of ``proc``'s stdout while it still runs, failing when they
    do not come within ``timeout`` s (unflushed output waits in the process until exit)."""
    assert proc.stdout is not None
    got = b""
    while got.count(b"\n") < count:
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        assert ready, f"no line on the pipe after {got!r}: the progress is not flushed"
        chunk = os.read(proc.stdout.fileno(), 65536)
        assert chunk, f"the pipe closed after {got!r}"
        got += chunk
    return got.decode().splitlines()[:count]


def test_log_lines_tell_the_story_as_it_happens_on_a_pipe() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "include")}
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        lines = read_lines(proc, 4)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=60)
    assert lines == [
        "-- preparing Airflow",
        "  >> 2026-02-20 alert: estimated drop: CBPE: estimated roc_auc dropped by 0.06 "
        "below 0.71 — labels not in yet",
        "  >> 2026-02-20 retrain policy: blocked: waiting for labels: performance dropped; "
        "waiting for labels: 120 of 500",
        "day 51/100 2026-02-20 monitor: 298 rows (2 rejected), 300 labels, monitor: blocked",
    ]
    assert proc.returncode == 0
