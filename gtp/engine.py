"""The GTP 2 engine: one game, one player, one clock, driven by text commands.

``GtpEngine.run(infile, outfile)`` is the whole protocol loop. A reader thread turns input
lines into a queue, so a long analysis can notice the next command; the main thread takes
one line at a time, preprocesses it as GTP 2 section 3.1 says (control characters other
than HT and LF dropped, ``#`` comments cut, tabs turned into spaces, empty lines skipped),
splits off the optional numeric id and calls the handler.

Handlers are the ``cmd_<name>`` methods, found by name: ``cmd_play`` answers ``play``; in
the extension prefixes ``kgs``, ``lz``, ``kata`` and ``gogui`` the first underscore is a
dash (``cmd_lz_genmove_analyze`` answers ``lz-genmove_analyze``). A handler takes the
argument list and returns the response text, or raises ``GtpError`` (``? message``).
Handlers check every argument before they change anything, so a failed command leaves the
game as it was; any other exception is logged and answered ``? internal error: ...``.

Streaming commands write their own output: ``lz-analyze`` / ``kata-analyze`` answer ``=``,
print one info line per report while the player analyses, and stop when the next input
line arrives (a bare newline included); the blank line then closes the response and that
line is executed next. ``*-genmove_analyze`` print info lines while thinking and end with
``play <vertex>``.

Modules written elsewhere in the project (``engine.sgf``, ``engine.scoring``) are imported
inside the handlers that need them, so the engine starts even where one is missing.
"""
import contextlib
import importlib.metadata
import logging
import os
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from engine import board as fb
from engine.board import BLACK, WHITE, EMPTY, PASS, RESIGN, M_CAPB, M_CAPW
from engine.coords import GTP_COLUMNS, BadVertex, format_vertex, parse_color, parse_vertex
from engine.game import GameState, IllegalMove, handicap_points, result_string
from engine.timecontrol import Clock, TimeConfig
from gtp import analysis

log = logging.getLogger("gtp")

PROTOCOL_VERSION = "2"
_EXTENSION_PREFIXES = ("kgs_", "lz_", "kata_", "gogui_")
# every control character except HT (9) and LF (10) is discarded on input
_CONTROL = {c: None for c in list(range(32)) + [127] if c not in (9, 10)}


def _package_version():
    try:
        return importlib.metadata.version("alphago-py")
    except importlib.metadata.PackageNotFoundError:
        return "0.1.0"


@dataclass(frozen=True)
class EngineConfig:
    """Settings of one engine process (the command line fills it)."""
    size: int = 19  # board size until the controller sends boardsize
    komi: float = 7.5  # komi until the controller sends komi or loads an SGF
    ko_rule: str = "positional"  # simple, positional or situational superko
    visits: int | None = None  # cap on simulations per move, None = no cap
    seconds: float | None = None  # fixed thinking time per move, None = from the clock
    default_seconds: float = 2.0  # per move when no visits, seconds or time control limit it
    analysis_interval: float = 1.0  # seconds between analysis lines when the controller gives none
    analysis_max_moves: int = 0  # moves per analysis line unless maxmoves is given, 0 = all
    gfx_seconds: float = 1.0  # thinking time behind a GoGui heatmap
    time: TimeConfig = field(default_factory=TimeConfig)  # how the clock is spent
    name: str = "alphago-py"  # answer to ``name``
    version: str = field(default_factory=_package_version)  # answer to ``version`` (has a dot)


class GtpError(Exception):
    """A command that fails; the message becomes the ``?`` response."""


@contextlib.contextmanager
def _refusal(prefix):
    """A ``ValueError`` raised in the block becomes ``GtpError("PREFIX: message")``."""
    try:
        yield
    except ValueError as e:
        raise GtpError(f"{prefix}: {e}") from None


def preprocess(raw):
    """GTP 2 section 3.1: the command text of one input line ('' when there is none)."""
    s = raw.translate(_CONTROL)
    s = s.split("#", 1)[0]
    return s.replace("\t", " ").strip()


def command_name(method_name):
    """``cmd_kgs_time_settings`` -> ``kgs-time_settings``, ``cmd_final_score`` -> ``final_score``."""
    name = method_name[len("cmd_"):]
    if name.startswith(_EXTENSION_PREFIXES):
        name = name.replace("_", "-", 1)
    return name


# -- board text -------------------------------------------------------------------------
def is_star_point(n, row, col):
    """Star points as GNU Go draws them (row/col 0-based from any corner)."""
    if n in (2, 4):
        return False
    if n == 3:
        return row == 1 and col == 1
    if n == 5:
        return (row, col) in {(1, 1), (1, 3), (2, 2), (3, 1), (3, 3)}
    edge = 2 if n <= 11 else 3
    mid = n // 2
    r = min(row, n - 1 - row)
    c = min(col, n - 1 - col)
    if r == edge and c == edge:
        return True
    if n % 2 == 0:
        return False
    if n < 12:
        return r == mid and c == mid
    return r in (edge, mid) and c in (edge, mid)


def board_text(state):
    """The board as GNU Go's ``showboard`` draws it, starting with a newline."""
    n = state.size
    stones = state.stones()
    meta = state.board[8]
    letters = "   " + " ".join(GTP_COLUMNS[:n])
    lines = ["", letters]
    for r in range(n):
        num = n - r
        cells = []
        for c in range(n):
            v = stones[r, c]
            cells.append("X" if v == BLACK else "O" if v == WHITE else
                         "+" if is_star_point(n, r, c) else ".")
        line = f"{num:2d} {' '.join(cells)} {num}"
        white_row, black_row = (8, 9) if n >= 10 else (n - 2, n - 1)
        if r == white_row:
            line += f"     WHITE (O) has captured {int(meta[M_CAPW])} stones"
        elif r == black_row:
            line += f"     BLACK (X) has captured {int(meta[M_CAPB])} stones"
        lines.append(line)
    lines.append(letters)
    return "\n".join(lines)


def free_handicap_points(n, count):
    """Where the engine puts ``count`` free handicap stones: the fixed GTP placements as far
    as they go, then each further stone on the point farthest from the stones already
    placed, off the first two lines while there is room, nearest the star-point line on
    ties."""
    pts = []
    if n >= 7:
        limit = 4 if (n == 7 or n % 2 == 0) else 9
        pts = handicap_points(n, min(count, limit)) if count >= 2 else []
    if len(pts) >= count:
        return pts[:count]
    edge = 3 if n >= 13 else 2 if n >= 7 else 1
    rc = np.array([(r, c) for r in range(n) for c in range(n)])
    line = np.minimum(np.minimum(rc[:, 0], n - 1 - rc[:, 0]), np.minimum(rc[:, 1], n - 1 - rc[:, 1]))
    taken = np.zeros(n * n, dtype=bool)
    dist = np.full(n * n, 4 * n, dtype=np.int64)

    def take(a):
        taken[a] = True
        d = np.abs(rc[:, 0] - rc[a, 0]) + np.abs(rc[:, 1] - rc[a, 1])
        np.minimum(dist, d, out=dist)

    for p in pts:
        r, c = fb.rowcol(n, p)
        take(r * n + c)
    # points off the first two lines first; then the farthest point; then the one nearest
    # the ``edge`` line
    inner = line >= min(2, edge)
    pref = -np.abs(line - edge)
    while len(pts) < count:
        score = np.where(taken, -10 ** 9, inner * 10 ** 6 + dist * 100 + pref)
        a = int(np.argmax(score))
        take(a)
        pts.append(fb.point(n, a // n, a % n))
    return pts


def _chains(state, points):
    """Group padded points into their chains (one list per chain, reading order)."""
    w = state.size + 2
    col = state.board[0]
    left = set(points)
    groups = []
    for p in sorted(points):
        if p not in left:
            continue
        group, todo = [], [p]
        left.discard(p)
        while todo:
            q = todo.pop()
            group.append(q)
            for nb in (q - w, q - 1, q + 1, q + w):
                if nb in left and col[nb] == col[p]:
                    left.discard(nb)
                    todo.append(nb)
        groups.append(sorted(group))
    return groups


class GtpEngine:
    """A GTP engine around one ``Player``. ``run`` speaks the protocol on two streams."""

    def __init__(self, player, config=None):
        self.player = player
        self.config = config or EngineConfig()
        self.size = self.config.size
        self.komi = self.config.komi
        self.clock = Clock(config=self.config.time)
        self.state = self._new_state(self.size)
        self.handlers = {command_name(m): getattr(self, m) for m in dir(self) if m.startswith("cmd_")}
        self._lines = queue.Queue()  # raw input lines from the reader thread, None at EOF
        self._pushback = deque()  # lines taken from the queue but not yet executed
        self._out = None
        self._out_lock = threading.Lock()
        self._quit = False
        self._id = ""  # id of the command being executed, '' when it has none
        self._warned = set()  # warnings already logged
        self.player.new_game(self.state)

    def _new_state(self, size):
        return GameState(size, komi=self.komi, ko_rule=self.config.ko_rule)

    # -- protocol loop ----------------------------------------------------------------
    def run(self, infile, outfile):
        """Answer commands from ``infile`` on ``outfile`` until ``quit`` or end of input."""
        self._out = outfile
        reader = threading.Thread(target=self._read, args=(infile,), name="gtp-reader", daemon=True)
        reader.start()
        while not self._quit:
            raw = self._next_line()
            if raw is None:
                break
            self.execute(raw)
        log.info("engine stops")

    def _read(self, infile):
        try:
            for raw in iter(infile.readline, ""):
                self._lines.put(raw)
        except Exception:
            log.exception("reading input failed")
        self._lines.put(None)

    def _next_line(self):
        if self._pushback:
            return self._pushback.popleft()
        return self._lines.get()

    def _write(self, text):
        with self._out_lock:
            self._out.write(text)
            self._out.flush()

    def execute(self, raw):
        """Run one input line; writes the response (nothing for an empty line)."""
        line = preprocess(raw)
        if not line:
            return
        tokens = line.split()
        self._id = ""
        if tokens[0].isdigit():
            self._id = tokens.pop(0)
            if not tokens:
                self._write(f"?{self._id} missing command\n\n")
                return
        name, args = tokens[0].lower(), tokens[1:]
        log.info("<< %s", line)
        handler = self.handlers.get(name)
        try:
            if handler is None:
                raise GtpError("unknown command")
            result = handler(args)
        except GtpError as e:
            self._error(str(e))
            return
        except Exception as e:
            log.exception("command failed: %s", line)
            self._error(f"internal error: {type(e).__name__}: {e}")
            return
        if result is not None:
            self._success(result)

    def _success(self, text):
        lines = str(text).rstrip().split("\n")
        # an empty line would end the response early; only a leading one (showboard) stays
        body = "\n".join(lines[:1] + [ln.rstrip() for ln in lines[1:] if ln.strip()])
        log.info(">> =%s %s", self._id, body)
        self._write(f"={self._id} {body}\n\n")

    def _error(self, message):
        message = " ".join(message.split())
        log.info(">> ?%s %s", self._id, message)
        self._write(f"?{self._id} {message}\n\n")

    # -- argument helpers -------------------------------------------------------------
    @staticmethod
    def _nargs(args, lo, hi, usage):
        if not lo <= len(args) <= hi:
            raise GtpError(f"syntax error: expected {usage}")

    @staticmethod
    def _color(tok):
        try:
            return parse_color(tok)
        except ValueError:
            raise GtpError(f"invalid color '{tok}'") from None

    def _vertex(self, tok):
        try:
            return parse_vertex(tok, self.size)
        except BadVertex as e:
            raise GtpError(str(e)) from None

    @staticmethod
    def _int(tok, what):
        try:
            return int(tok)
        except ValueError:
            raise GtpError(f"{what} not an integer") from None

    @staticmethod
    def _float(tok, what):
        try:
            v = float(tok)
        except ValueError:
            raise GtpError(f"{what} not a float") from None
        if v != v or v in (float("inf"), float("-inf")):
            raise GtpError(f"{what} not a finite number")
        return v

    def _vertices(self, points):
        return " ".join(format_vertex(p, self.size) for p in points)

    # -- game setup -------------------------------------------------------------------
    def _reset(self, state):
        self.state = state
        self.size = state.size
        self.clock.reset()
        self.player.new_game(state)

    def cmd_protocol_version(self, args):
        return PROTOCOL_VERSION

    def cmd_name(self, args):
        return self.config.name

    def cmd_version(self, args):
        return self.config.version

    def cmd_known_command(self, args):
        self._nargs(args, 1, 1, "known_command COMMAND")
        return "true" if args[0].lower() in self.handlers else "false"

    def cmd_list_commands(self, args):
        return "\n".join(sorted(self.handlers))

    def cmd_quit(self, args):
        self._quit = True
        return ""

    def cmd_boardsize(self, args):
        self._nargs(args, 1, 1, "boardsize SIZE")
        n = self._int(args[0], "boardsize")
        if not 2 <= n <= fb.MAX_N:
            raise GtpError("unacceptable size")
        only = getattr(self.player, "board_size", None)  # a network plays one size
        if only is not None and n != only:
            raise GtpError(f"unacceptable size (the network plays {only}x{only} only)")
        self._reset(self._new_state(n))
        return ""

    def cmd_clear_board(self, args):
        self._reset(self._new_state(self.size))
        return ""

    def cmd_komi(self, args):
        self._nargs(args, 1, 1, "komi FLOAT")
        self.komi = self._float(args[0], "komi")
        self.state.komi = self.komi
        return ""

    def cmd_fixed_handicap(self, args):
        self._nargs(args, 1, 1, "fixed_handicap COUNT")
        count = self._int(args[0], "handicap")
        self._require_empty()
        with _refusal("invalid handicap"):
            pts = handicap_points(self.size, count)
        self.state.set_handicap(pts)
        return self._vertices(pts)

    def cmd_place_free_handicap(self, args):
        self._nargs(args, 1, 1, "place_free_handicap COUNT")
        count = self._int(args[0], "handicap")
        self._require_empty()
        if not 2 <= count < self.size * self.size:
            raise GtpError(f"invalid handicap: must be 2..{self.size * self.size - 1}")
        pts = free_handicap_points(self.size, count)
        self.state.set_handicap(pts)
        return self._vertices(pts)

    def cmd_set_free_handicap(self, args):
        if not args:
            raise GtpError("syntax error: expected set_free_handicap VERTEX...")
        pts = [self._vertex(v) for v in args]
        if PASS in pts or RESIGN in pts or len(set(pts)) != len(pts):
            raise GtpError("bad vertex list")
        if not 2 <= len(pts) < self.size * self.size:
            raise GtpError("bad vertex list: needs 2 or more stones and an empty point")
        self._require_empty()
        trial = self.state.copy()
        with _refusal("bad vertex list"):
            trial.set_handicap(pts)
        self.state = trial
        return ""

    def _require_empty(self):
        st = self.state
        if st.history or np.any(st.stones() != EMPTY):
            raise GtpError("board not empty")

    def cmd_loadsgf(self, args):
        self._nargs(args, 1, 2, "loadsgf FILE [MOVE_NUMBER]")
        move_number = self._int(args[1], "move number") if len(args) == 2 else None
        path = args[0]
        if not os.path.isfile(path):
            raise GtpError(f"cannot load file: no such file '{path}'")
        try:
            from engine.sgf import load_sgf
        except ImportError as e:
            raise GtpError(f"cannot load file: SGF support unavailable ({e})") from None
        try:
            g = load_sgf(path, move_number=move_number, ko_rule=self.config.ko_rule)
        except (ValueError, OSError, UnicodeDecodeError) as e:  # SgfError is a ValueError
            raise GtpError(f"cannot load file: {e}") from None
        self.komi = g.komi
        self._reset(g)
        return ""

    def cmd_printsgf(self, args):
        self._nargs(args, 0, 1, "printsgf [FILE]")
        try:
            from engine import sgf
        except ImportError as e:
            raise GtpError(f"SGF support unavailable ({e})") from None
        result = result_string(self._final_score()) if self.state.is_over() else None
        text = sgf.game_to_sgf(self.state, result=result)
        if not args:
            return text
        try:
            if hasattr(sgf, "write_sgf_atomic"):
                sgf.write_sgf_atomic(args[0], text)
            else:
                with open(args[0], "w", encoding="utf-8") as f:
                    f.write(text)
        except OSError as e:
            raise GtpError(f"cannot write file: {e}") from None
        return ""

    # -- moves --------------------------------------------------------------------------
    def cmd_play(self, args):
        self._nargs(args, 2, 2, "play COLOR VERTEX")
        color = self._color(args[0])
        p = self._vertex(args[1])
        if p == RESIGN:
            raise GtpError("illegal move: resign is not a move")
        try:
            self.state.play(color, p)
        except IllegalMove as e:
            raise GtpError(str(e)) from None
        return ""

    def cmd_undo(self, args):
        if not self.state.undo():
            raise GtpError("cannot undo")
        return ""

    def _think(self, color, on_info=None, charge=True):
        """Ask the player for a move for ``color`` within the move budget; returns a
        legal point, PASS or RESIGN."""
        st = self.state
        budget = self.clock.budget(color, len(st.history), st.size, seconds=self.config.seconds,
                                   visits=self.config.visits, default_seconds=self.config.default_seconds)
        t0 = time.monotonic()
        move = int(self.player.genmove(st, color, budget, on_info))
        elapsed = time.monotonic() - t0
        if charge:
            self.clock.charge(color, elapsed)
        log.info("genmove %s: %s in %.2fs (budget %s)", "BW"[color - 1],
                 format_vertex(move, st.size), elapsed, budget)
        if move not in (PASS, RESIGN) and not st.is_legal(color, move):
            log.error("player chose illegal move %s; passing instead", format_vertex(move, st.size))
            move = PASS
        return move

    def _genmove(self, color, on_info=None):
        move = self._think(color, on_info)
        if move != RESIGN:
            self.state.play(color, move)
        return format_vertex(move, self.size)

    def cmd_genmove(self, args):
        self._nargs(args, 1, 1, "genmove COLOR")
        return self._genmove(self._color(args[0]))

    def cmd_reg_genmove(self, args):
        self._nargs(args, 1, 1, "reg_genmove COLOR")
        return format_vertex(self._think(self._color(args[0]), charge=False), self.size)

    # -- scoring ------------------------------------------------------------------------
    def _ownership(self):
        return np.asarray(self.player.ownership(self.state), dtype=np.float32)

    def _final_score(self):
        """Black-minus-white area score after removing the stones judged dead."""
        try:
            from engine import scoring
        except ImportError:
            self._warn_once("engine.scoring unavailable: scoring without dead-stone removal")
            return self.state.score()
        return float(scoring.score_with_dead(self.state, scoring.dead_stones(self.state, self._ownership())))

    def _warn_once(self, message):
        if message not in self._warned:
            self._warned.add(message)
            log.warning(message)

    def cmd_final_score(self, args):
        return result_string(self._final_score())

    def cmd_final_status_list(self, args):
        self._nargs(args, 1, 1, "final_status_list alive|dead|seki")
        status = args[0].lower()
        if status not in ("alive", "dead", "seki"):
            raise GtpError("invalid status")
        try:
            from engine import scoring
            table = scoring.final_status(self.state, self._ownership())
        except ImportError:
            self._warn_once("engine.scoring unavailable: every stone counts as alive")
            col = self.state.board[0]
            table = {"alive": [int(p) for p in np.nonzero((col == BLACK) | (col == WHITE))[0]],
                     "dead": [], "seki": []}
        return "\n".join(self._vertices(g) for g in _chains(self.state, [int(p) for p in table[status]]))

    def cmd_showboard(self, args):
        return board_text(self.state)

    # -- time -----------------------------------------------------------------------------
    @staticmethod
    def _set_clock(method, *values):
        """``method(*values)`` of the clock; a value it refuses is a syntax error."""
        with _refusal("syntax error"):
            method(*values)
        return ""

    def cmd_time_settings(self, args):
        self._nargs(args, 3, 3, "time_settings MAIN_TIME BYO_YOMI_TIME BYO_YOMI_STONES")
        return self._set_clock(self.clock.set_gtp, self._float(args[0], "main time"),
                               self._float(args[1], "byo-yomi time"),
                               self._int(args[2], "byo-yomi stones"))

    def cmd_kgs_time_settings(self, args):
        if not args:
            raise GtpError("syntax error: expected kgs-time_settings none|absolute|byoyomi|canadian ...")
        nums = [self._int(tok, "stones") if i == 2 else self._float(tok, "time")
                for i, tok in enumerate(args[1:])]
        return self._set_clock(self.clock.set_kgs, args[0], *nums)

    def cmd_time_left(self, args):
        self._nargs(args, 3, 3, "time_left COLOR TIME STONES")
        return self._set_clock(self.clock.time_left, self._color(args[0]),
                               self._float(args[1], "time"), self._int(args[2], "stones"))

    # -- analysis -------------------------------------------------------------------------
    def _analyze_request(self, args):
        with _refusal("syntax error"):
            return analysis.parse_analyze_args(args, self.size, self.state.to_move,
                                               self.config.analysis_interval,
                                               self.config.analysis_max_moves)

    def _formatter(self, kind, request, state):
        n = state.size
        if kind == "lz":
            return lambda infos, own: analysis.lz_line(infos, n, request)
        fallback = []

        def fmt(infos, own):
            if request.ownership and own is None:
                if not fallback:  # the player gave none: ask for it once per analysis
                    fallback.append(np.asarray(self.player.ownership(state), dtype=np.float32))
                own = fallback[0]
            return analysis.kata_line(infos, n, request.color,
                                      own if request.ownership else None, request)
        return fmt

    def _analyze(self, kind, args):
        request = self._analyze_request(args)
        state = self.state.copy()
        self._write(f"={self._id}\n")
        stream = analysis.AnalysisStream(self.player, state, request,
                                         self._formatter(kind, request, state), self._write).start()
        nxt = self._lines.get()  # any line, even an empty one, ends the analysis
        stream.stop()
        self._write("\n")
        self._pushback.append(nxt)
        if nxt is None:
            self._quit = True
        return None

    def cmd_lz_analyze(self, args):
        return self._analyze("lz", args)

    def cmd_kata_analyze(self, args):
        return self._analyze("kata", args)

    def _genmove_analyze(self, kind, args):
        request = self._analyze_request(args)
        fmt = self._formatter(kind, request, self.state)

        def emit(infos, own):
            line = fmt(infos, own)
            if line:
                self._write(line + "\n")

        self._write(f"={self._id}\n")
        try:
            move = self._genmove(request.color, analysis.Throttle(request.interval_s, emit))
        except Exception:
            # the response has begun: finish it as a pass, and play that pass, so the
            # controller and the engine still agree on the game
            log.exception("genmove_analyze failed; passing")
            self.state.play(request.color, PASS)
            move = "pass"
        self._write(f"play {move}\n\n")
        return None

    def cmd_lz_genmove_analyze(self, args):
        return self._genmove_analyze("lz", args)

    def cmd_kata_genmove_analyze(self, args):
        return self._genmove_analyze("kata", args)

    # -- GoGui ----------------------------------------------------------------------------
    def cmd_gogui_analyze_commands(self, args):
        return "\n".join([
            "gfx/Visit heatmap/gogui-visits",
            "gfx/Policy heatmap/gogui-policy",
            "gfx/Ownership/gogui-ownership",
            "plist/Dead stones/final_status_list dead",
            "string/Final score/final_score",
        ])

    def _short_analysis(self):
        """Let the player analyse the side to move for ``gfx_seconds``; its last report."""
        last = [[]]
        stop = threading.Event()
        timer = threading.Timer(self.config.gfx_seconds, stop.set)
        timer.start()
        try:
            self.player.analyze(self.state.copy(), self.state.to_move, stop,
                                self.config.gfx_seconds / 2, lambda infos, own=None: last.__setitem__(0, infos))
        finally:
            timer.cancel()
        return last[0]

    def cmd_gogui_visits(self, args):
        return analysis.gfx_heatmap(self._short_analysis(), self.size, "visits")

    def cmd_gogui_policy(self, args):
        return analysis.gfx_heatmap(self._short_analysis(), self.size, "prior")

    def cmd_gogui_ownership(self, args):
        return analysis.gfx_ownership(self._ownership(), self.size)
