"""Settings objects: frozen dataclasses, checked when built, stored as plain dicts.

A group of settings (network shape, training, search, self-play, gating, ...) is a
``@dataclass(frozen=True)`` with a default and a comment for every field. Frozen: a config is
never changed in place; ``dataclasses.replace(cfg, field=value)`` gives a changed copy.

Stored form
-----------
``to_dict()`` gives a plain dict of the fields (JSON-safe and loadable with torch's
``weights_only``); it is written next to each run (``config.json``) and into every checkpoint.
``from_dict(d)`` is its inverse. A missing key takes the field's default, so a file written
before a field existed still loads. A key that is not a field is an error
(``unknown <what> fields [...]``), never dropped: it is a typo in a hand-edited file or a file
from a newer version, and ignoring it would silently run with a setting nobody asked for.

``Config`` is the mixin that gives a dataclass these two methods (``from_dict`` a classmethod);
``WHAT`` names the settings in the unknown-key message (default: the class name). A class
whose stored form differs (extra keys such as a network ``kind``, tuples stored as lists)
overrides them and calls ``from_fields`` for the check.

Checks
------
``__post_init__`` lists ``(condition, message)`` pairs and passes them to
``check(type(self).__name__, [...])``: the first failing one raises
``ValueError("<ClassName>: <message>")``, so the error says which settings are wrong and why,
e.g. ``TrainConfig: momentum must be in [0, 1)``. ``positive(self, "a", "b")`` and
``not_negative(self, ...)`` give the common pairs ("a must be positive", ...) for a list.
"""
from dataclasses import asdict, fields


def check(owner, checks):
    """Raise ``ValueError(f"{owner}: {message}")`` for the first ``(ok, message)`` pair of
    ``checks`` whose ``ok`` is false; nothing when all hold."""
    for ok, message in checks:
        if not ok:
            raise ValueError(f"{owner}: {message}")


def positive(config, *names):
    """``(value > 0, "<name> must be positive")`` for each named field of ``config``."""
    return [(getattr(config, name) > 0, f"{name} must be positive") for name in names]


def not_negative(config, *names):
    """``(value >= 0, "<name> must not be negative")`` for each named field of ``config``."""
    return [(getattr(config, name) >= 0, f"{name} must not be negative") for name in names]


def from_fields(cls, d, what):
    """``cls(**d)``, refusing keys of ``d`` that are not fields of the dataclass ``cls`` with
    ``ValueError("unknown {what} fields [sorted names]")``."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"unknown {what} fields {unknown}")
    return cls(**d)


class Config:
    """Mixin for a frozen settings dataclass: ``to_dict`` and its inverse ``from_dict``."""
    WHAT = ""  # the settings' name in "unknown ... fields"; "" = the class name (not a field)

    def to_dict(self):
        """The fields as a plain dict (the stored form)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        """Inverse of ``to_dict``; unknown keys are an error, missing ones take defaults."""
        return from_fields(cls, d, cls.WHAT or cls.__name__)
