"""Benchmark: how often the rollout's SRM check halts a correct (A/A) split.

Compares, on the same simulated A/A rollouts (tests/srm_simulation.py says how they are
simulated), the SRM counting mlstack did before — chi-square of request counts at every
look, a failed challenger request counted for both variants — with a chi-square of distinct
entities at every look, and with what mlstack does now: the anytime-valid
Dirichlet-multinomial test on distinct entities at ``srm_alpha / stages`` per stage. The
rollout is halted at the first look of any stage that finds a mismatch; the table gives the
share of rollouts halted (a false halt: the split is right).

    PYTHONPATH=include:tests .venv/bin/python bench/bench_srm.py   # writes bench/results/srm.md
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "include"), str(ROOT / "tests")]

from srm_simulation import METHODS, Scenario, false_halt_rates  # noqa: E402

SCENARIOS = {
    "20k entities, 200k requests/stage, 10%→50%, 1000 looks/stage": Scenario(),
    "2k entities (heavy repeat), 200k requests/stage, 1000 looks/stage": Scenario(entities=2_000),
    "200k entities, 500k requests, 50% stage, 1% challenger errors": Scenario(
        entities=200_000, requests_per_stage=500_000, stages=(0.5,), challenger_error_rate=0.01
    ),
    "200k entities, 500k requests, 50% stage, no errors": Scenario(
        entities=200_000, requests_per_stage=500_000, stages=(0.5,)
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rollouts", type=int, default=2000, help="A/A rollouts per scenario")
    parser.add_argument("--out", default=str(ROOT / "bench/results/srm.md"))
    args = parser.parse_args()
    lines = [
        "# SRM false halts in A/A rollouts (srm_alpha = 0.001)",
        "",
        f"`bench/bench_srm.py --rollouts {args.rollouts}`; entity request rates lognormal "
        "(sigma 1.5); seed 0. Share of correct rollouts halted at some look "
        "(a binomial 95 % upper bound in brackets when nothing was halted: 3/rollouts).",
        "",
        "| scenario | " + " | ".join(METHODS) + " | seconds |",
        "|---|" + "---|" * (len(METHODS) + 1),
    ]
    for name, sc in SCENARIOS.items():
        t0 = time.perf_counter()
        rates = false_halt_rates(sc, args.rollouts, seed=0)
        took = time.perf_counter() - t0
        cells = [
            f"{rates[m]:.4f}" + (f" (<{3 / args.rollouts:.4f})" if rates[m] == 0 else "")
            for m in METHODS
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {took:.0f} |")
        sys.stdout.write(lines[-1] + "\n")
        sys.stdout.flush()
    lines += [
        "",
        "requests_chisquare: before (chi-square of requests at each look, failed challenger "
        "requests counted twice); units_chisquare: distinct entities, chi-square at each look; "
        "units_sequential: now (`rollout.srm_test` on distinct entities, anytime-valid, "
        "srm_alpha split over the stages).",
    ]
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
