"""Errors a person can act on: the CLI prints their message as one line and exits non-zero."""


class TierflowError(Exception):
    """Base class: the message is complete and safe to show (no secrets, no traceback needed)."""

    exit_code = 2
