"""A lean process for one load: pyarrow told once that pandas is not there.

pyarrow imports pandas (0.2–0.3 s of CPU, more on a busy machine: a small delivery's load
costs about as much) the first time it converts a Python value (``pa.scalar``, ``pa.array``),
only to ask whether that value is a pandas object; a load never hands it one. Making that
first check with pandas hidden records "no pandas" in pyarrow's shim; a later
``Table.to_pandas()`` asks again and imports pandas as usual (GX's report step does).
Only for a process that runs nothing else at the time (``tierflow ingest``): hiding a module
from the import system is not safe while other threads import.
"""

from __future__ import annotations

import sys


class _NoPandas:
    """A meta path finder that refuses ``pandas`` (and only it)."""

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> None:
        if name == "pandas":
            raise ImportError("pandas hidden from pyarrow's first check")


def without_pandas() -> None:
    """Have pyarrow's first pandas check answer "absent" (nothing if pandas is imported)."""
    if "pandas" in sys.modules:
        return
    import pyarrow as pa

    finder = _NoPandas()
    sys.meta_path.insert(0, finder)
    try:
        pa.scalar(True)
    finally:
        sys.meta_path.remove(finder)
