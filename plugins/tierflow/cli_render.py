"""How a command's result reads on a terminal (``--json`` prints it whole instead)."""

from __future__ import annotations

from typing import Any


def key_values(result: dict[str, Any]) -> str:
    """The result's flat fields, one ``key  value`` per line (nested ones only in ``--json``)."""
    width = max((len(k) for k in result), default=0)
    return "\n".join(
        f"{k.ljust(width)}  {v}" for k, v in result.items() if not isinstance(v, (dict, list))
    )
