"""Analysis output for GUIs: Leela Zero and KataGo info lines, GoGui graphics, live streams.

A player reports its search as a list of ``engine.player.MoveInfo`` (winrate, prior and lcb
in 0..1 for the side to move) plus, on request, an ownership array (+1 = black, row-major
from the top-left). This module turns those into the text GUIs parse:

- Leela Zero (``lz-analyze``): every value an integer, winrate/prior/lcb in 1/10000::

      info move D4 visits 123 winrate 5321 prior 1200 lcb 5100 order 0 pv D4 Q16

- KataGo (``kata-analyze``): floats, plus utility and score fields, and with ``ownership
  true`` a trailing ``ownership`` block of N*N values from the top-left (A19) to the bottom
  right, each in [-1, 1] *from the perspective of the side to move* (+1 = the player to
  move owns the point), as KataGo's GTP extension documentation specifies.

All moves of one report go on one line, one ``info`` block per move, best first.

``parse_analyze_args`` reads the shared argument syntax ``[color] [interval] [key value
...]``. ``AnalysisStream`` runs ``player.analyze`` on a worker thread and writes one line
per report until stopped; ``Throttle`` rate-limits the reports of a ``genmove`` that
analyses while it thinks. ``gfx_*`` build GoGui ``gfx`` responses (INFLUENCE / LABEL /
TEXT).
"""
import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from engine.board import BLACK, PASS
from engine.coords import BadVertex, format_vertex, parse_color, parse_vertex

log = logging.getLogger("gtp")

# keys that take one value which this engine accepts and ignores
_IGNORED_KEYS = {"pvvisits", "pvedgevisits", "ownershipstdev", "movesownership",
                 "movesownershipstdev", "rootinfo", "includeownership"}


class AnalyzeArgsError(ValueError):
    """Arguments of an analysis command that cannot be understood."""


@dataclass(frozen=True)
class AnalyzeRequest:
    """What an ``lz-analyze`` / ``kata-analyze`` style command asked for."""
    color: int  # side to move in the analysis
    interval_s: float  # seconds between reports
    min_moves: int = 0  # accepted; moves without visits are never invented
    max_moves: int = 0  # report at most this many moves, 0 = all
    ownership: bool = False  # KataGo ``ownership true``: append the ownership block
    avoid: frozenset = frozenset()  # points left out of the reports
    allow: frozenset | None = None  # if given, only these points are reported


def _is_number(tok):
    try:
        float(tok)
        return True
    except ValueError:
        return False


def _is_color(tok):
    try:
        parse_color(tok)
        return True
    except ValueError:
        return False


def parse_analyze_args(args, size, default_color, default_interval_s, default_max_moves=0):
    """``[color] [interval-centiseconds] [key value ...]`` -> ``AnalyzeRequest``.

    Keys: ``interval CS``, ``minmoves N``, ``maxmoves N``, ``ownership true|false``,
    ``avoid COLOR V1,V2 DEPTH``, ``allow COLOR V1,V2 DEPTH`` (avoid/allow filter the
    reported moves of the analysed colour), and a few KataGo display keys that are ignored.
    """
    i = 0
    color = default_color
    interval = default_interval_s
    min_moves, max_moves, ownership = 0, default_max_moves, False
    avoid, allow = set(), None
    if i < len(args) and _is_color(args[i]):
        color = parse_color(args[i])
        i += 1
    if i < len(args) and _is_number(args[i]):
        interval = float(args[i]) / 100.0
        i += 1

    def value(key):
        if i + 1 >= len(args):
            raise AnalyzeArgsError(f"'{key}' needs a value")
        return args[i + 1]

    while i < len(args):
        key = args[i].lower()
        try:
            if key == "interval":
                interval = float(value(key)) / 100.0
                i += 2
            elif key in ("minmoves", "maxmoves"):
                n = int(value(key))
                if n < 0:
                    raise AnalyzeArgsError(f"'{key}' must not be negative")
                if key == "minmoves":
                    min_moves = n
                else:
                    max_moves = n
                i += 2
            elif key == "ownership":
                v = value(key).lower()
                if v not in ("true", "false"):
                    raise AnalyzeArgsError("'ownership' takes true or false")
                ownership = v == "true"
                i += 2
            elif key in ("avoid", "allow"):
                if i + 3 >= len(args):
                    raise AnalyzeArgsError(f"'{key}' needs COLOR VERTICES DEPTH")
                who = parse_color(args[i + 1])
                pts = {parse_vertex(v, size) for v in args[i + 2].split(",") if v}
                int(args[i + 3])
                if who == color:
                    if key == "avoid":
                        avoid |= pts
                    else:
                        allow = (allow or set()) | pts
                i += 4
            elif key in _IGNORED_KEYS:
                value(key)
                i += 2
            else:
                raise AnalyzeArgsError(f"unknown analysis option '{args[i]}'")
        except (ValueError, IndexError) as e:
            if isinstance(e, AnalyzeArgsError):
                raise
            if isinstance(e, BadVertex):
                raise AnalyzeArgsError(str(e)) from None
            raise AnalyzeArgsError(f"bad value for '{key}'") from None
    if not (0 <= interval < float("inf")):  # also rejects nan
        raise AnalyzeArgsError("interval must be a finite number >= 0")
    return AnalyzeRequest(color, interval, min_moves, max_moves, ownership,
                          frozenset(avoid), None if allow is None else frozenset(allow))


def select(infos, request=None, max_moves=0):
    """The moves to report: filtered by the request's avoid/allow, best first, capped at
    ``max_moves`` (the request's when given), ``order`` renumbered from 0."""
    if request is not None:
        max_moves = request.max_moves
        infos = [m for m in infos if m.move not in request.avoid
                 and (request.allow is None or m.move in request.allow)]
    infos = sorted(infos, key=lambda m: m.order)
    if max_moves > 0:
        infos = infos[:max_moves]
    return [(k, m) for k, m in enumerate(infos)]


def _num(x, digits=6):
    """Fixed-point float without trailing zeros or a negative zero."""
    s = f"{float(x):.{digits}f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _per10k(x):
    return str(int(round(min(1.0, max(0.0, float(x))) * 10000)))


def _pv(m, n):
    pv = list(m.pv) if len(m.pv) else [m.move]
    return " ".join(format_vertex(int(p), n) for p in pv)


def lz_line(infos, n, request=None, max_moves=0):
    """One Leela Zero analysis line (empty string when there is nothing to report)."""
    parts = []
    for k, m in select(infos, request, max_moves):
        parts.append(f"info move {format_vertex(m.move, n)} visits {int(m.visits)} "
                     f"winrate {_per10k(m.winrate)} prior {_per10k(m.prior)} "
                     f"lcb {_per10k(m.lcb)} order {k} pv {_pv(m, n)}")
    return " ".join(parts)


def kata_line(infos, n, color, ownership=None, request=None, max_moves=0):
    """One KataGo analysis line; ``ownership`` (+1 black) is written from ``color``'s side."""
    parts = []
    for k, m in select(infos, request, max_moves):
        wr = min(1.0, max(0.0, float(m.winrate)))
        lcb = min(1.0, max(0.0, float(m.lcb)))
        lead = _num(m.score_lead)
        parts.append(f"info move {format_vertex(m.move, n)} visits {int(m.visits)} "
                     f"utility {_num(2.0 * wr - 1.0)} winrate {_num(wr)} scoreMean {lead} "
                     f"scoreStdev 0 scoreLead {lead} prior {_num(m.prior)} lcb {_num(lcb)} "
                     f"order {k} pv {_pv(m, n)}")
    if ownership is not None:
        own = np.asarray(ownership, dtype=np.float64).reshape(-1)
        if own.size != n * n:
            raise ValueError(f"ownership has {own.size} values, board has {n * n} points")
        sign = 1.0 if color == BLACK else -1.0
        parts.append("ownership " + " ".join(_num(sign * v) for v in own))
    return " ".join(parts)


# -- GoGui graphics ---------------------------------------------------------------------
def _vertex(n, a):
    return format_vertex(int((a // n + 1) * (n + 2) + a % n + 1), n)


def gfx_heatmap(infos, n, what):
    """GoGui gfx for ``what`` = 'visits' or 'prior': shaded squares scaled to the best
    move, labelled with the visit count or the prior in percent."""
    moves = [m for m in infos if m.move != PASS]
    if not moves:
        return "TEXT no search information"
    vals = [float(m.visits if what == "visits" else m.prior) for m in moves]
    top = max(vals) or 1.0
    infl = " ".join(f"{format_vertex(m.move, n)} {_num(v / top, 3)}" for m, v in zip(moves, vals))
    if what == "visits":
        labels = " ".join(f"{format_vertex(m.move, n)} {int(m.visits)}" for m in moves)
    else:
        labels = " ".join(f"{format_vertex(m.move, n)} {_num(100 * m.prior, 1)}" for m in moves)
    best = min(infos, key=lambda m: m.order)
    return (f"INFLUENCE {infl}\nLABEL {labels}\n"
            f"TEXT best {format_vertex(best.move, n)} winrate {_num(100 * best.winrate, 1)}%")


def gfx_ownership(ownership, n):
    """GoGui gfx: expected owner of every point, black positive, and the implied score."""
    own = np.asarray(ownership, dtype=np.float64).reshape(-1)
    infl = " ".join(f"{_vertex(n, a)} {_num(v, 2)}" for a, v in enumerate(own))
    return f"INFLUENCE {infl}\nTEXT ownership sum {_num(own.sum(), 1)} (black positive, before komi)"


# -- streaming --------------------------------------------------------------------------
class AnalysisStream:
    """Runs ``player.analyze`` on a worker thread; each report becomes one line through
    ``write`` until ``stop`` returns. ``fmt(infos, ownership) -> str`` builds the line."""

    def __init__(self, player, state, request, fmt, write):
        self.player = player
        self.state = state
        self.request = request
        self.fmt = fmt
        self.write = write
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._open = True
        self._thread = threading.Thread(target=self._run, name="analysis", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _on_info(self, infos, ownership=None):
        try:
            line = self.fmt(infos, ownership)
        except Exception:
            log.exception("analysis report could not be formatted")
            return
        with self._lock:
            if self._open and line:
                self.write(line + "\n")

    def _run(self):
        try:
            self.player.analyze(self.state, self.request.color, self._stop,
                                self.request.interval_s, self._on_info, self.request.ownership)
        except Exception:
            log.exception("analysis stopped by an error")

    def stop(self):
        """Ask the search to stop, wait for it, and silence any late report."""
        self._stop.set()
        self._thread.join()
        with self._lock:
            self._open = False


class Throttle:
    """Passes at most one report per ``interval_s`` (the first always) to ``emit``."""

    def __init__(self, interval_s, emit):
        self.interval_s = interval_s
        self.emit = emit
        self._last = None

    def __call__(self, infos, ownership=None):
        now = time.monotonic()
        if self._last is not None and now - self._last < self.interval_s:
            return
        self._last = now
        self.emit(infos, ownership)
