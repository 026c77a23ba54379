"""Synthetic department extracts for every contract (design §5, §8 ``tierflow generate``).

Deterministic per seed, vectorised and chunked so 10M household rows fit in
bounded memory; defects are injected per the contract's rules and recorded in a
ground-truth file the checker's tests compare against.
"""

from tierflow.generate.core import SPECS, default_as_of, generate
from tierflow.generate.defects import DefectClass, defect_classes

__all__ = ["SPECS", "DefectClass", "default_as_of", "defect_classes", "generate"]
