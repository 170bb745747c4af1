"""Benchmark: what a journal fdatasync costs on this disk, and what the journal's design
choices buy (issue 12: the fsync'd gateway's tail latency).

1. One writer, one 700-byte line then ``fdatasync`` per round, three files interleaved
   in blocks of 50 rounds (so they see the same disk load): appended (``O_APPEND``: every sync also
   commits the new file size), pre-zeroed (written with zeros and synced first, then
   overwritten in place: no metadata to flush) and ``posix_fallocate``'d (space allocated,
   then written in place: the journal's layout with fsync); time and CPU per round.
2. Pipelining: 1, 2 and 4 threads each appending a line and fdatasync'ing the same file
   (the journal's ``SYNC_THREADS`` rounds in flight).

    .venv/bin/python bench/bench_fsync.py [--rounds 1500] [--seconds 4] [--dir PATH]

Writes bench/results/fsync.md. The folder defaults to a temporary one on the disk of
``/tmp``; pass the gateway's spool disk with ``--dir``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

OUT = Path(__file__).resolve().parent / "results" / "fsync.md"
LINE = b"x" * 699 + b"\n"
BLOCK = 50  # rounds of one layout before the next: load drift falls on all, and each sync
# follows syncs of its own file (as the journal's do), not of another's
LOAD_AT_START = os.getloadavg()[0]


def pct(values: list[float], q: float) -> float:
    """The q-quantile of ``values`` (sorted in place)."""
    values.sort()
    return values[min(len(values) - 1, int(q * len(values)))]


def layouts(folder: Path, rounds: int) -> dict[str, tuple[list[float], list[float]]]:
    """Milliseconds per write + fdatasync round for the three file layouts, interleaved, and
    the CPU each round cost its thread (user + kernel: the kernel's side of a sync, e.g. a
    VM's I/O submissions, included), in microseconds."""
    size = rounds * len(LINE) + 4096
    fds = {"appended": os.open(folder / "a", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)}
    fds["pre-zeroed"] = os.open(folder / "z", os.O_RDWR | os.O_CREAT, 0o600)
    os.write(fds["pre-zeroed"], b"\0" * size)
    fds["fallocate'd"] = os.open(folder / "f", os.O_RDWR | os.O_CREAT, 0o600)
    os.posix_fallocate(fds["fallocate'd"], 0, size)
    for fd in fds.values():
        os.fsync(fd)
    lat: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in fds}
    for start in range(0, rounds, BLOCK):
        for name, fd in fds.items():
            for i in range(start, min(start + BLOCK, rounds)):
                t, c = time.perf_counter(), time.thread_time()
                if name == "appended":
                    os.write(fd, LINE)
                else:
                    os.pwrite(fd, LINE, i * len(LINE))
                os.fdatasync(fd)
                lat[name][0].append(1000 * (time.perf_counter() - t))
                lat[name][1].append(1e6 * (time.thread_time() - c))
    for fd in fds.values():
        os.close(fd)
    return lat


def pipelined(folder: Path, threads: int, seconds: float) -> tuple[float, list[float]]:
    """Syncs per second and milliseconds per round with ``threads`` syncing one file."""
    fd = os.open(folder / f"p{threads}", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    lat: list[float] = []
    end = time.perf_counter() + seconds

    def run() -> None:
        while time.perf_counter() < end:
            t = time.perf_counter()
            os.write(fd, LINE)
            os.fdatasync(fd)
            lat.append(1000 * (time.perf_counter() - t))

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    os.close(fd)
    return len(lat) / seconds, lat


def main() -> None:
    """Run both measurements and write the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=1500, help="Rounds per file layout.")
    ap.add_argument("--seconds", type=float, default=4, help="Seconds per thread count.")
    ap.add_argument("--dir", default=None, help="Folder on the disk to measure.")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="mlstack-bench-fsync-") as tmp:
        folder = Path(tmp)
        lat = layouts(folder, args.rounds)
        pipes = {k: pipelined(folder, k, args.seconds) for k in (1, 2, 4)}
    lines = [
        "# Journal fdatasync on this disk",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} CPUs; `python bench/bench_fsync.py --rounds {args.rounds} "
        f"--seconds {args.seconds:g}`; load average (`uptime`) {LOAD_AT_START:.1f} at the "
        f"start, {os.getloadavg()[0]:.1f} at the end (the disk is shared with other "
        "sessions: their I/O sets much of these figures).",
        "",
        "## One writer: file layout (write + fdatasync of a 700-byte line; blocks of "
        f"{BLOCK} rounds, interleaved)",
        "",
        "| layout | p50 ms | p90 ms | p99 ms | max ms | mean ms | CPU µs per round |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, (v, cpu) in lat.items():
        mean = sum(v) / len(v)
        lines.append(
            f"| {name} | {pct(v, 0.5):.2f} | {pct(v, 0.9):.2f} | {pct(v, 0.99):.2f} | "
            f"{max(v):.2f} | {mean:.2f} | {sum(cpu) / len(cpu):.0f} |"
        )
    lines += [
        "",
        "## Pipelining: threads appending and fdatasync'ing one file at once",
        "",
        "| threads | syncs/s | p50 ms | p99 ms |",
        "|---:|---:|---:|---:|",
    ]
    for k, (rate, v) in pipes.items():
        lines.append(f"| {k} | {rate:.0f} | {pct(v, 0.5):.2f} | {pct(v, 0.99):.2f} |")
    OUT.write_text("\n".join(lines) + "\n")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
