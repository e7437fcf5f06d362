"""Argument checks of the settings dataclasses: a list of ``(ok, message)`` pairs, the first
that fails raised as a ``ValueError``."""


def require(checks, prefix=""):
    """Raise ``ValueError(prefix + message)`` for the first ``(ok, message)`` pair of
    ``checks`` whose ``ok`` is false; nothing when all hold."""
    for ok, message in checks:
        if not ok:
            raise ValueError(prefix + message)
