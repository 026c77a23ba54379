"""tierflow: department extracts -> checks -> foundational libraries -> district feeds."""

__version__ = "0.1.0"
