"""What the Citus tests compare between the single-node run and the cluster's."""

from __future__ import annotations

import sqlalchemy as sa


def aggregate_facts(engine: sa.Engine, run_id: str) -> list[tuple]:
    """A run's tier aggregates, in one order, without when they were computed."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("select * from thematic.tier_aggregate where run_id = :r"), {"r": run_id}
        )
        keys = [k for k in rows.keys() if k not in ("computed_at", "created_at")]
        return sorted(tuple(r._mapping[k] for k in keys) for r in rows)
