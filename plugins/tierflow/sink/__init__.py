"""Sink to pilot districts (design §7): feeds under the three lists, masking, RLS pull views."""

from __future__ import annotations

from typing import Any


def sink(district: str | None = None, run_id: str | None = None, **kwargs: Any) -> dict[str, Any]:
    from tierflow.sink.run import sink as run_sink

    return run_sink(district, run_id, **kwargs)


def ack_feed(district: str, run_id: str, **kwargs: Any) -> dict[str, Any]:
    from tierflow.sink.ledger import ack_feed as run_ack

    return run_ack(district, run_id, **kwargs)


def verify_feed(path: Any, public_keys: Any = None) -> dict[str, Any]:
    from tierflow.sink.verify import verify_feed as run_verify

    return run_verify(path, public_keys)


__all__ = ["ack_feed", "sink", "verify_feed"]
