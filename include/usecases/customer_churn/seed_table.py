"""Create and fill the example table ``subscription_renewals`` that ``customer_churn`` reads.

The use case brings its own data: the billing system's Postgres table. To try the example
without one, this script creates that table in any database SQLAlchemy reaches and writes
synthetic renewals (a subscriber on a monthly contract with many support tickets and a short
tenure cancels more often), ``--rows`` a day from ``--start`` for ``--days`` days:

    python include/usecases/customer_churn/seed_table.py \\
        --url postgresql+psycopg2://user:password@host/db --days 14

It replaces the days it writes (a rerun does not duplicate them). The integration test fills
its table with this script too.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from typing import Any

TABLE = "subscription_renewals"
START = date(2026, 1, 1)


def renewals(day: date, rows: int, seed: int = 11) -> list[dict[str, Any]]:
    """One day of synthetic renewals, the outcome included (deterministic per seed and day)."""
    import numpy as np

    rng = np.random.default_rng([seed, day.toordinal()])
    tenure = rng.integers(0, 72, rows)
    tickets = rng.poisson(1.2, rows)
    monthly = rng.random(rows) < 0.6
    plan = rng.choice(["basic", "standard", "premium"], rows, p=[0.5, 0.35, 0.15])
    fee = np.round(
        np.select([plan == "basic", plan == "standard"], [9.0, 19.0], 39.0)
        + rng.normal(0, 2, rows),
        2,
    ).clip(0)
    logit = -1.6 + 0.7 * tickets - 0.04 * tenure + 1.4 * monthly + 0.02 * (fee - 19)
    churned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return [
        {
            "renewal_id": f"R{day:%Y%m%d}-{i:05d}",
            "renewal_date": day,
            "tenure_months": int(tenure[i]),
            "monthly_fee": float(fee[i]),
            "support_tickets": int(tickets[i]),
            "plan": str(plan[i]),
            "contract": "monthly" if monthly[i] else "yearly",
            "churned": int(churned[i]),
        }
        for i in range(rows)
    ]


def seed(url: str, days: int, rows: int = 200, start: date = START, table: str = TABLE) -> int:
    """Create ``table`` if missing and write ``days`` days of renewals into it; rows written."""
    import sqlalchemy as sa

    meta = sa.MetaData()
    renewal = sa.Table(
        table,
        meta,
        sa.Column("renewal_id", sa.Text, primary_key=True),
        sa.Column("renewal_date", sa.Date, nullable=False, index=True),
        sa.Column("tenure_months", sa.Integer, nullable=False),
        sa.Column("monthly_fee", sa.Float, nullable=False),
        sa.Column("support_tickets", sa.Integer, nullable=False),
        sa.Column("plan", sa.Text),
        sa.Column("contract", sa.Text),
        sa.Column("churned", sa.Integer, nullable=False),
    )
    eng = sa.create_engine(url)
    written = 0
    try:
        meta.create_all(eng)
        with eng.begin() as conn:
            for i in range(days):
                day = start + timedelta(days=i)
                conn.execute(renewal.delete().where(renewal.c.renewal_date == day))
                batch = renewals(day, rows)
                conn.execute(renewal.insert(), batch)
                written += len(batch)
    finally:
        eng.dispose()
    return written


def main() -> None:
    """``seed_table.py --url URL [--days N] [--rows N] [--start YYYY-MM-DD]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of the database")
    parser.add_argument("--days", type=int, default=14, help="days to write (default 14)")
    parser.add_argument("--rows", type=int, default=200, help="renewals a day (default 200)")
    parser.add_argument("--start", type=date.fromisoformat, default=START, help="first day")
    args = parser.parse_args()
    n = seed(args.url, args.days, args.rows, args.start)
    sys.stdout.write(f"{TABLE}: {n} renewals over {args.days} day(s) from {args.start}\n")


if __name__ == "__main__":
    main()
