"""Play a match between two GTP engines and say which one is stronger.

    python -m selfplay.match PLAYER_A PLAYER_B [--games N] [--size 9] [--komi 7] ...

Players
-------
A player is one of

- an internal player spec, ``KIND[:key=value,...]`` with KIND ``auto``, ``mcts``, ``zero``,
  ``lee`` or ``random`` (the players of ``python -m gtp --player``), e.g. ``mcts:visits=2000``,
  ``mcts:seconds=2,threads=2`` or ``zero:weights=runs/zero9/checkpoints/best.pt,seconds=1``. The runner starts
  ``sys.executable -m gtp --player KIND`` and turns every key into a flag (``foo_bar=1`` ->
  ``--foo-bar 1``, a bare ``flag`` -> ``--flag``); the key ``name`` only names the player. The
  match settings are passed as ``--size``, ``--komi``, ``--ko-rule`` and ``--seed`` unless
  the spec sets them itself.
- an external GTP command line, either prefixed ``gtp:`` (``"gtp:gnugo --mode gtp --level 10"``)
  or whose first word is an executable path (``"/usr/games/gnugo --mode gtp"``).

Names (SGF ``PB``/``PW``, the summary) come from ``--name-a`` / ``--name-b``, the ``name`` key,
or the spec itself.

Games
-----
Colours alternate: in game ``i`` (from 0) A has black when ``i`` is even. With
``--opening-moves K`` every pair of games ``2k, 2k+1`` starts from the same K random moves, once
with each player on each colour, so deterministic engines do not repeat one game and neither
player profits from a lucky opening.

The runner is the referee. It keeps its own ``GameState`` (positional superko unless
``--ko-rule`` says otherwise), asks the side to move for ``genmove`` and tells the other side
with ``play``. A move the rules forbid, or an answer that is no move, loses the game (``+F``);
``resign`` loses (``+R``); no answer within ``--move-timeout`` seconds loses (``+T``) and an
engine that exits loses (``+F``); in both cases the engine is killed and a fresh one is started
for the next game. Two passes in a row, or the move cap (3*N*N moves by default), end the game
and it is scored on the referee's board:

- ``internal`` (default): Tromp-Taylor area after removing dead stones found by Monte-Carlo
  ownership (``engine.scoring``);
- ``tromp-taylor``: plain Tromp-Taylor area, every stone counts as alive;
- ``gnugo``: GNU Go replays the game and answers ``final_score``; the internal score is kept too
  and every game where the two disagree on the winner is listed in the summary.

``--parallel K`` plays K games at once, each table with its own engine processes. With
``--sprt elo0,elo1`` the match stops as soon as the sequential probability ratio test decides.

The summary (printed, and written with ``--out``) holds the counts, A's win rate with a 95%
Wilson interval, the Elo difference with its interval, the SPRT state, game lengths, time per
move, referee disagreements, the command line and the SGF paths.
"""
import argparse
import math
import os
import queue
import re
import shlex
import shutil
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from engine import atomic
from engine.board import BLACK, PASS, RESIGN, WHITE, is_eye, rowcol
from engine.coords import BadVertex, format_color, format_vertex, parse_vertex
from engine.game import KO_RULES, GameState, result_string
from engine.progress import progress_bar
from selfplay import stats
from selfplay.gtpclient import EngineCrash, EngineFailure, EngineTimeout, GTPClient, GTPError

INTERNAL_KINDS = ("auto", "mcts", "zero", "lee", "random")
DEFAULT_GNUGO = "/usr/games/gnugo --mode gtp --chinese-rules"
REFEREES = ("internal", "tromp-taylor", "gnugo")
MAX_START_FAILURES = 3  # a side that fails to start this many times in a row stops the match
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


class MatchError(RuntimeError):
    """The match cannot go on (bad player spec, engine refuses the game settings...)."""


# -- players ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlayerSpec:
    """How to start one side of the match."""
    spec: str  # the text given on the command line
    name: str  # display name: SGF PB/PW, summary
    argv: tuple  # engine command line, without the settings added per process
    internal: bool  # our own ``python -m gtp`` engine: gets --size/--komi/--ko-rule/--seed
    options: tuple = ()  # internal specs: the (key, value) pairs given, for the summary

    def command(self, size, komi, ko_rule, seed):
        """The command line of one engine process."""
        argv = list(self.argv)
        if self.internal:
            given = {k for k, _ in self.options}
            for key, value in (("size", size), ("komi", f"{komi:g}"), ("ko_rule", ko_rule),
                               ("seed", seed)):
                if key not in given:
                    argv += [_flag(key), str(value)]
        return argv


def _flag(key):
    return "--" + key.replace("_", "-")


def parse_player(text, name=None):
    """``PlayerSpec`` from a command-line spec; ``ValueError`` with the reason when it is bad."""
    text = text.strip()
    if not text:
        raise ValueError("empty player spec")
    if text.startswith("gtp:"):
        return _external(text, text[4:], name)
    if text.partition(":")[0] in INTERNAL_KINDS:
        return _internal(text, name)
    try:
        words = shlex.split(text)
    except ValueError as e:
        raise ValueError(f"player {text!r}: {e}") from None
    if words and ("/" in words[0] or shutil.which(words[0])):
        return _external(text, text, name)
    raise ValueError(f"unknown player {text!r}: use {' or '.join(INTERNAL_KINDS)} "
                     "(e.g. mcts:visits=800), or an engine command line, e.g. "
                     "'gtp:/usr/games/gnugo --mode gtp --level 10'")


def _internal(text, name):
    kind, _, rest = text.partition(":")
    argv = [sys.executable, "-m", "gtp", "--player", kind]
    options = []
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        value = value.strip()
        if not _KEY.match(key):
            raise ValueError(f"player {text!r}: bad option name {key!r}")
        if eq and not value:
            raise ValueError(f"player {text!r}: option {key!r} has no value")
        if key == "player":
            raise ValueError(f"player {text!r}: the kind is given before ':', not as player=")
        if key == "name":
            name = name or value
            continue
        options.append((key.replace("-", "_"), value if eq else None))
        argv.append(_flag(key))
        if eq:
            argv.append(value)
    shown = kind + (":" + ",".join(k if v is None else f"{k}={v}" for k, v in options) if options else "")
    return PlayerSpec(spec=text, name=name or shown, argv=tuple(argv), internal=True,
                      options=tuple(options))


def _external(text, command, name):
    try:
        argv = shlex.split(command)
    except ValueError as e:
        raise ValueError(f"player {text!r}: {e}") from None
    if not argv:
        raise ValueError(f"player {text!r}: empty command line")
    exe = argv[0]
    if "/" in exe:
        if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
            raise ValueError(f"player {text!r}: {exe} is not an executable file")
    elif not shutil.which(exe):
        raise ValueError(f"player {text!r}: {exe} not found on PATH")
    shown = " ".join([os.path.basename(exe)] + argv[1:])
    return PlayerSpec(spec=text, name=name or shown, argv=tuple(argv), internal=False)


# -- settings -----------------------------------------------------------------------------
@dataclass(frozen=True)
class MatchConfig:
    """Everything about a match except the players."""
    games: int = 10  # games to play (fewer when the SPRT stops the match)
    size: int = 9  # board size
    komi: float = 7.0  # white's compensation; integer komi allows draws (half a point each)
    ko_rule: str = "positional"  # referee's rule: simple, positional or situational superko
    max_moves: int | None = None  # move cap, passes included; None: 3 * size * size
    parallel: int = 1  # games played at once, each with its own engine processes
    move_timeout: float = 60.0  # seconds per genmove / play before the engine forfeits
    startup_timeout: float = 120.0  # extra seconds for a fresh engine's first commands
    opening_moves: int = 0  # random moves played before the engines take over
    seed: int = 0  # openings, engine seeds, dead-stone playouts
    referee: str = "internal"  # how finished games are scored, one of REFEREES
    referee_cmd: str = DEFAULT_GNUGO  # GNU Go command line for referee "gnugo"
    ownership_playouts: int = 200  # Monte-Carlo playouts for dead stones (referee "internal")
    sprt: tuple | None = None  # (elo0, elo1): stop when the SPRT decides
    alpha: float = 0.05  # SPRT: chance of accepting H1 when H0 holds
    beta: float = 0.05  # SPRT: chance of accepting H0 when H1 holds
    sgf_dir: str | None = None  # one SGF per game here when set
    log_dir: str | None = None  # engines' stderr goes to files here when set

    def __post_init__(self):
        if self.games < 1:
            raise ValueError("games must be at least 1")
        if not 2 <= self.size <= 19:
            raise ValueError(f"board size must be 2..19, got {self.size}")
        if self.ko_rule not in KO_RULES:
            raise ValueError(f"ko rule must be one of {KO_RULES}")
        if self.parallel < 1:
            raise ValueError("parallel must be at least 1")
        if self.move_timeout <= 0 or self.startup_timeout < 0:
            raise ValueError("timeouts must be positive")
        if self.opening_moves < 0:
            raise ValueError("opening moves must be >= 0")
        if self.max_moves is not None and self.max_moves < 1:
            raise ValueError("max moves must be at least 1")
        if self.referee not in REFEREES:
            raise ValueError(f"referee must be one of {REFEREES}")
        if self.sprt is not None:
            elo0, elo1 = self.sprt
            if not elo1 > elo0:
                raise ValueError(f"SPRT needs elo0 < elo1, got {elo0}, {elo1}")
            stats.sprt_bounds(self.alpha, self.beta)  # validates alpha and beta

    @property
    def move_cap(self):
        return self.max_moves if self.max_moves is not None else 3 * self.size * self.size


# -- one game -----------------------------------------------------------------------------
@dataclass
class GameRecord:
    """What happened in one game."""
    index: int  # game number from 0; A is black in even games
    black: str  # 'A' or 'B'
    white: str
    black_name: str
    white_name: str
    winner: str | None = None  # 'A', 'B' or None for a draw
    result: str = ""  # SGF RE: B+3.5, W+R (resign), B+T (time), W+F (forfeit), 0 (draw)
    reason: str = ""  # score, move-limit, resign, timeout, crash, illegal, error
    detail: str = ""  # what went wrong, for forfeits
    moves: int = 0  # moves played, opening and passes included
    score: float | None = None  # black minus white, komi included, when scored
    scoring: str = ""  # how the score was found: dead-stones, tromp-taylor, gnugo
    internal_score: float | None = None  # the runner's own score (with referee gnugo)
    gnugo_score: float | None = None  # GNU Go's final_score (with referee gnugo)
    referee_error: str = ""  # GNU Go could not score; the internal score was used
    opening: list = field(default_factory=list)  # opening moves as GTP vertices
    think_seconds: dict = field(default_factory=lambda: {"A": 0.0, "B": 0.0})  # genmove wall time
    genmoves: dict = field(default_factory=lambda: {"A": 0, "B": 0})  # moves asked of each side
    sgf: str | None = None  # path of the game's SGF


class _Aborted(Exception):
    """The match was interrupted while this game was being played."""


class Table:
    """One board of the match: the two engines (and the GNU Go referee) a worker plays on.

    Engines start lazily and are replaced after a failure; ``abort`` kills them from another
    thread to interrupt a game.
    """

    def __init__(self, slot, players, cfg):
        self.slot = slot
        self.players = players  # {'A': PlayerSpec, 'B': PlayerSpec}
        self.cfg = cfg
        self.clients = {"A": None, "B": None, "referee": None}
        self.fresh = {"A": False, "B": False, "referee": False}  # no genmove answered yet
        self.start_failures = {"A": 0, "B": 0, "referee": 0}  # consecutive failed starts
        self.ever_started = {"A": False, "B": False, "referee": False}
        self.starts = {"A": 0, "B": 0, "referee": 0}
        self.aborted = threading.Event()

    def _argv(self, who):
        if who == "referee":
            return shlex.split(self.cfg.referee_cmd)
        seed = _derive_seed(self.cfg.seed, self.slot, "AB".index(who), self.starts[who])
        p = self.players[who]
        return p.command(self.cfg.size, self.cfg.komi, self.cfg.ko_rule, seed)

    def client(self, who):
        """The running engine for ``who``, started if needed; ``EngineFailure`` if it cannot be."""
        if self.aborted.is_set():
            raise _Aborted()
        c = self.clients[who]
        if c is not None and c.alive:
            return c
        self.drop(who)
        name = "referee" if who == "referee" else self.players[who].name
        log = None
        if self.cfg.log_dir:
            os.makedirs(self.cfg.log_dir, exist_ok=True)
            log = os.path.join(self.cfg.log_dir, f"{who}-{self.slot}.log")
        argv = self._argv(who)
        self.starts[who] += 1
        try:
            c = GTPClient(argv, name=name, stderr_path=log, startup_timeout=self.cfg.startup_timeout)
        except (EngineFailure, GTPError) as e:
            if self.aborted.is_set():
                raise _Aborted() from None
            self.start_failures[who] += 1
            if not self.ever_started[who] or self.start_failures[who] >= MAX_START_FAILURES:
                raise MatchError(f"cannot start {name} ({' '.join(argv)}): {e}") from None
            raise EngineCrash(str(e)) from None
        self.start_failures[who] = 0
        self.ever_started[who] = True
        self.clients[who] = c
        self.fresh[who] = True
        return c

    def timeout(self, who):
        """Seconds the next command to ``who`` may take: a fresh engine gets the startup grace
        too, since its first genmove may load or compile its search."""
        return self.cfg.move_timeout + (self.cfg.startup_timeout if self.fresh[who] else 0.0)

    def drop(self, who):
        c, self.clients[who] = self.clients[who], None
        if c is not None:
            c.close()

    def close(self):
        for who in self.clients:
            self.drop(who)

    def abort(self):
        self.aborted.set()
        for c in list(self.clients.values()):
            if c is not None:
                c.kill()


def _derive_seed(*parts):
    return int(np.random.SeedSequence([int(p) & 0xFFFFFFFF for p in parts]).generate_state(1)[0]
               % (2 ** 31))


def opening(cfg, pair):
    """Random opening for pair ``pair`` of games: ``cfg.opening_moves`` legal moves, black first,
    away from the first line (on boards of 5x5 and up) and never filling an own eye."""
    if cfg.opening_moves == 0:
        return []
    rng = np.random.default_rng([cfg.seed & 0xFFFFFFFF, pair, 0x0BE4])
    state = GameState(cfg.size, cfg.komi, cfg.ko_rule)
    n = cfg.size
    lo, hi = (1, n - 2) if n >= 5 else (0, n - 1)
    for _ in range(cfg.opening_moves):
        c = state.to_move
        pts = [p for p in state.legal_points(c) if not is_eye(state.board, p, c)
               and all(lo <= x <= hi for x in rowcol(n, p))]
        if not pts:
            break
        state.play(c, pts[int(rng.integers(len(pts)))])
    return [m.point for m in state.history]


def play_game(table, index, opening_points=()):
    """Play game ``index`` on ``table``; returns its ``GameRecord``.

    Raises ``MatchError`` when the match cannot go on and ``_Aborted`` when interrupted.
    """
    cfg = table.cfg
    players = table.players
    a_black = index % 2 == 0
    side = {BLACK: "A" if a_black else "B", WHITE: "B" if a_black else "A"}
    rec = GameRecord(index=index, black=side[BLACK], white=side[WHITE],
                     black_name=players[side[BLACK]].name, white_name=players[side[WHITE]].name)
    state = GameState(cfg.size, cfg.komi, cfg.ko_rule, move_limit=cfg.move_cap)
    n = cfg.size

    def forfeit(who, reason, detail):
        if table.aborted.is_set():
            raise _Aborted()
        if reason in ("timeout", "crash"):
            table.drop(who)  # restarted for the next game
        other = "B" if who == "A" else "A"
        winner_color = BLACK if side[BLACK] == other else WHITE
        rec.winner, rec.reason, rec.detail = other, reason, detail
        rec.result = f"{format_color(winner_color)}+{'T' if reason == 'timeout' else 'F'}"
        return _finish(table, rec, state)

    def failure_reason(e):
        return "timeout" if isinstance(e, EngineTimeout) else "crash"

    # game setup
    for who in ("A", "B"):
        try:
            c = table.client(who)
            t = table.timeout(who)
            c.boardsize(n, t)
            c.clear_board(t)
            c.komi(cfg.komi, t)
        except EngineFailure as e:
            return forfeit(who, failure_reason(e), str(e))
        except GTPError as e:
            raise MatchError(f"{players[who].name} refuses the game settings "
                             f"({n}x{n}, komi {cfg.komi:g}): {e}") from None

    def tell(who, color, p):
        """Send a move to ``who``; a failure there ends the game (returned as the record)."""
        try:
            table.client(who).play(format_color(color), format_vertex(p, n), table.timeout(who))
        except EngineFailure as e:
            return forfeit(who, failure_reason(e), str(e))
        except GTPError as e:
            return forfeit(who, "error", f"rejected the legal move {format_color(color)} "
                                         f"{format_vertex(p, n)}: {e}")
        return None

    for p in opening_points:
        color = state.to_move
        state.play(color, p)
        rec.opening.append(format_vertex(p, n))
        for who in ("A", "B"):
            done = tell(who, color, p)
            if done is not None:
                return done

    while not state.is_over():
        color = state.to_move
        mover, other = side[color], side[3 - color]
        t0 = time.monotonic()
        try:
            reply = table.client(mover).genmove(format_color(color), table.timeout(mover))
        except EngineFailure as e:
            return forfeit(mover, failure_reason(e), str(e))
        except GTPError as e:
            return forfeit(mover, "error", f"genmove failed: {e}")
        rec.think_seconds[mover] += time.monotonic() - t0
        rec.genmoves[mover] += 1
        table.fresh[mover] = False
        try:
            p = parse_vertex(reply, n)
        except BadVertex:
            return forfeit(mover, "illegal", f"answered genmove with {reply!r}")
        if p == RESIGN:
            rec.winner, rec.reason = other, "resign"
            rec.result = f"{format_color(3 - color)}+R"
            return _finish(table, rec, state)
        why = state.check_move(color, p)
        if why is not None:
            return forfeit(mover, "illegal", f"{format_color(color)} {format_vertex(p, n)}: {why}")
        state.play(color, p)
        done = tell(other, color, p)
        if done is not None:
            return done

    rec.reason = "score" if state.passes >= 2 else "move-limit"
    _score(table, rec, state)
    return _finish(table, rec, state)


def internal_score(state, playouts, seed):
    """(score, method): Tromp-Taylor after removing the stones Monte-Carlo ownership calls dead;
    plain Tromp-Taylor when ``engine.scoring`` is not available."""
    try:
        from engine import scoring
    except ImportError:
        return state.score(), "tromp-taylor"
    own = scoring.mc_ownership(state, playouts=playouts, seed=seed)
    dead = scoring.dead_stones(state, own)
    return float(scoring.score_with_dead(state, dead)), "dead-stones"


def parse_final_score(text):
    """GTP ``final_score`` answer (``B+3.5``, ``W+0.5``, ``0``) -> black-minus-white score."""
    t = text.strip().upper()
    if t in ("0", "JIGO", "DRAW", "B+0", "W+0"):
        return 0.0
    m = re.fullmatch(r"([BW])\+(\d+(?:\.\d*)?)", t)
    if not m:
        raise ValueError(f"cannot read final_score answer {text!r}")
    v = float(m.group(2))
    return v if m.group(1) == "B" else -v


def gnugo_score(client, state, timeout):
    """Replay ``state``'s game in GNU Go (or any engine with final_score) and ask its score."""
    n = state.size
    client.boardsize(n, timeout)
    client.clear_board(timeout)
    client.komi(state.komi, timeout)
    for m in state.history:
        client.play(format_color(m.color), format_vertex(m.point, n), timeout)
    return parse_final_score(client.final_score(timeout))


def _score(table, rec, state):
    cfg = table.cfg
    if cfg.referee == "tromp-taylor":
        rec.score, rec.scoring = state.score(), "tromp-taylor"
    else:
        rec.score, rec.scoring = internal_score(state, cfg.ownership_playouts,
                                                _derive_seed(cfg.seed, rec.index, 7))
    if cfg.referee == "gnugo":
        rec.internal_score = rec.score
        try:
            c = table.client("referee")
            rec.gnugo_score = gnugo_score(c, state, table.timeout("referee"))
            table.fresh["referee"] = False
            rec.score, rec.scoring = rec.gnugo_score, "gnugo"
        except (EngineFailure, GTPError, ValueError) as e:
            if table.aborted.is_set():
                raise _Aborted() from None
            table.drop("referee")
            rec.referee_error = str(e)
    winner_color = BLACK if rec.score > 0 else WHITE if rec.score < 0 else None
    rec.winner = None if winner_color is None else table_side(rec, winner_color)
    rec.result = result_string(rec.score)


def table_side(rec, color):
    return rec.black if color == BLACK else rec.white


def _finish(table, rec, state):
    rec.moves = len(state.history)
    cfg = table.cfg
    if cfg.sgf_dir:
        path = os.path.join(cfg.sgf_dir, f"game-{rec.index + 1:04d}.sgf")
        comment = rec.reason + (f": {rec.detail}" if rec.detail else "")
        if rec.opening:
            comment += f"; opening {' '.join(rec.opening)}"
        write_game_sgf(path, state, rec.black_name, rec.white_name, rec.result,
                       {"GN": f"game {rec.index + 1}", "GC": comment})
        rec.sgf = path
    return rec


# -- SGF ----------------------------------------------------------------------------------
def write_game_sgf(path, state, black_name, white_name, result, extra=None):
    """Write the game with ``engine.sgf``; a bare FF[4] record if that module is missing.
    ``extra``: more root properties, {identifier: text}."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        from engine import sgf
    except ImportError:
        sgf = None
    if sgf is not None:
        text = sgf.game_to_sgf(state, black_name=black_name, white_name=white_name, result=result,
                               extra=extra)
        sgf.write_sgf_atomic(path, text)
    else:
        atomic.write_text(path, _minimal_sgf(state, black_name, white_name, result, extra))


def _minimal_sgf(state, black_name, white_name, result, extra=None):
    def esc(s):
        return str(s).replace("\\", "\\\\").replace("]", "\\]")

    n = state.size
    head = (f"(;FF[4]GM[1]CA[UTF-8]AP[alphago-py:0.1.0]SZ[{n}]KM[{state.komi:g}]RU[Chinese]"
            f"PB[{esc(black_name)}]PW[{esc(white_name)}]" + (f"RE[{esc(result)}]" if result else "")
            + "".join(f"{k}[{esc(v)}]" for k, v in (extra or {}).items()))
    moves = []
    for m in state.history:
        if m.point == PASS:
            v = ""
        else:
            r, c = rowcol(n, m.point)
            v = "abcdefghijklmnopqrs"[c] + "abcdefghijklmnopqrs"[r]
        moves.append(f";{format_color(m.color)}[{v}]")
    return head + "".join(moves) + ")\n"


# -- the match ----------------------------------------------------------------------------
def run_match(player_a, player_b, cfg, progress=False, command_line=None):
    """Play the match and return its summary (a JSON-ready dict, see ``summarize``).

    ``player_a`` / ``player_b``: ``PlayerSpec`` or spec text. ``progress``: show a tqdm bar on
    stderr. Ctrl-C stops the match; the summary then covers the finished games and says
    ``interrupted``.
    """
    a = player_a if isinstance(player_a, PlayerSpec) else parse_player(player_a)
    b = player_b if isinstance(player_b, PlayerSpec) else parse_player(player_b)
    if a.name == b.name:
        a = PlayerSpec(a.spec, f"{a.name} (A)", a.argv, a.internal, a.options)
        b = PlayerSpec(b.spec, f"{b.name} (B)", b.argv, b.internal, b.options)
    players = {"A": a, "B": b}
    if cfg.sgf_dir:
        os.makedirs(cfg.sgf_dir, exist_ok=True)

    jobs = iter(range(cfg.games))
    jobs_lock = threading.Lock()
    stop = threading.Event()
    done = queue.Queue()  # ('game', (GameRecord, Event)) | ('error', exception) | ('exit', None)
    openings = {}
    openings_lock = threading.Lock()

    def opening_for(index):
        with openings_lock:
            if index // 2 not in openings:
                openings[index // 2] = opening(cfg, index // 2)
            return openings[index // 2]

    tables = [Table(k, players, cfg) for k in range(min(cfg.parallel, cfg.games))]

    def work(table):
        try:
            while not stop.is_set():
                with jobs_lock:
                    index = next(jobs, None)
                if index is None:
                    break
                rec = play_game(table, index, opening_for(index))
                # wait until the main thread has counted it: a decided SPRT then starts no new game
                seen = threading.Event()
                done.put(("game", (rec, seen)))
                while not seen.wait(0.1) and not stop.is_set():
                    pass
        except _Aborted:
            pass
        except BaseException as e:  # reported to the main thread, which stops the match
            done.put(("error", e))
        finally:
            table.close()
            done.put(("exit", None))

    records = []
    sprt_decided = None  # (decision, games) when the SPRT first decided
    interrupted = False
    error = None
    bar = progress_bar(cfg.games, progress)
    threads = [threading.Thread(target=work, args=(t,), daemon=True) for t in tables]
    for t in threads:
        t.start()
    running = len(threads)
    try:
        while running:
            kind, item = done.get()
            if kind == "exit":
                running -= 1
            elif kind == "error":
                error = error or item
                stop.set()
                for t in tables:
                    t.abort()
            else:
                rec, seen = item
                records.append(rec)
                w, d, l_ = _wdl(records)
                postfix = f"{a.name} {w + d / 2:g} - {l_ + d / 2:g} {b.name}"
                if cfg.sprt is not None:
                    llr = stats.sprt_llr(w, d, l_, *cfg.sprt)
                    decision = stats.sprt_decision(llr, cfg.alpha, cfg.beta)
                    postfix += f"  LLR {llr:+.2f}"
                    if decision and sprt_decided is None:
                        sprt_decided = (decision, len(records))
                        stop.set()
                if bar is not None:
                    bar.set_postfix_str(postfix, refresh=False)
                    bar.update(1)
                seen.set()
    except KeyboardInterrupt:
        interrupted = True
        stop.set()
        for t in tables:
            t.abort()
        for t in threads:
            t.join(timeout=10.0)
        while True:  # games that ended just before the interrupt still count
            try:
                kind, item = done.get_nowait()
            except queue.Empty:
                break
            if kind == "game":
                records.append(item[0])
    finally:
        if bar is not None:
            bar.close()
    if error is not None:
        if isinstance(error, MatchError):
            raise error
        raise MatchError(f"match stopped by an unexpected error: {error!r}") from error
    records.sort(key=lambda r: r.index)
    return summarize(records, players, cfg, sprt_decided, command_line, interrupted)


def _wdl(records):
    """A's wins, draws, losses."""
    w = sum(r.winner == "A" for r in records)
    d = sum(r.winner is None for r in records)
    return w, d, len(records) - w - d


# -- summary ------------------------------------------------------------------------------
def summarize(records, players, cfg, sprt_decided=None, command_line=None, interrupted=False):
    """The match summary as a JSON-ready dict (infinite Elo is written as null)."""
    w, d, l_ = _wdl(records)
    n = len(records)
    lo, hi = stats.wilson_interval(w + 0.5 * d, n)
    elo, elo_lo, elo_hi = stats.elo_interval(w, d, l_)
    by_color = {}
    for who in ("A", "B"):
        by_color[who] = {}
        for col in ("black", "white"):
            games = [r for r in records if getattr(r, col) == who]
            by_color[who][col] = {"games": len(games), "wins": sum(r.winner == who for r in games)}
    per_move = {}
    for who in ("A", "B"):
        secs = sum(r.think_seconds[who] for r in records)
        moves = sum(r.genmoves[who] for r in records)
        per_move[who] = secs / moves if moves else None
    reasons, scoring = {}, {}
    for r in records:
        reasons[r.reason] = reasons.get(r.reason, 0) + 1
        if r.scoring:
            scoring[r.scoring] = scoring.get(r.scoring, 0) + 1
    disagreements = [
        {"game": r.index, "internal": result_string(r.internal_score), "gnugo": result_string(r.gnugo_score),
         "sgf": r.sgf}
        for r in records
        if r.internal_score is not None and r.gnugo_score is not None
        and _sign(r.internal_score) != _sign(r.gnugo_score)]
    sprt = None
    if cfg.sprt is not None:
        sprt = stats.sprt_status(w, d, l_, cfg.sprt[0], cfg.sprt[1], cfg.alpha, cfg.beta)
        sprt["decision"] = sprt_decided[0] if sprt_decided else None
        sprt["decided_after"] = sprt_decided[1] if sprt_decided else None
    settings = asdict(cfg)
    settings["max_moves"] = cfg.move_cap
    summary = {
        "command": command_line,
        "players": {who: {"name": p.name, "spec": p.spec, "internal": p.internal,
                          "command": list(p.argv)} for who, p in players.items()},
        "settings": settings,
        "games": n,
        "interrupted": interrupted,
        "wins": {"A": w, "B": l_, "draws": d},
        "wins_by_color": by_color,
        "black_wins": sum(r.winner is not None and r.winner == r.black for r in records),
        "white_wins": sum(r.winner is not None and r.winner == r.white for r in records),
        "score_a": w + 0.5 * d,
        "win_rate_a": stats.score_fraction(w, d, l_) if n else None,
        "win_rate_a_ci95": [lo, hi] if n else None,
        "elo_a": _finite(elo) if n else None,
        "elo_a_ci95": [_finite(elo_lo), _finite(elo_hi)] if n else None,
        "los_a": stats.likelihood_of_superiority(w, l_),
        "sprt": sprt,
        "average_game_length": sum(r.moves for r in records) / n if n else None,
        "seconds_per_move": per_move,
        "end_reasons": reasons,
        "scoring": scoring,
        "referee": cfg.referee,
        "referee_errors": [{"game": r.index, "error": r.referee_error} for r in records if r.referee_error],
        "referee_disagreements": disagreements,
        "sgf": [r.sgf for r in records if r.sgf],
        "game_records": [asdict(r) for r in records],
    }
    return summary


def _sign(x):
    return (x > 0) - (x < 0)


def _finite(x):
    return x if math.isfinite(x) else None


def format_summary(s):
    """The summary as a text table."""
    cfg = s["settings"]
    pa, pb = s["players"]["A"], s["players"]["B"]
    lines = [f"A = {pa['name']} vs B = {pb['name']}: {cfg['size']}x{cfg['size']}, komi {cfg['komi']:g}, "
             f"{s['games']} games" + (" (interrupted)" if s["interrupted"] else "")]
    width = max(len(pa["name"]), len(pb["name"]), 6)
    lines.append(f"  {'player':<{width}}  {'wins':>5}  {'as black':>9}  {'as white':>9}  {'s/move':>7}")
    for who, p in (("A", pa), ("B", pb)):
        bc = s["wins_by_color"][who]
        spm = s["seconds_per_move"][who]
        lines.append(f"  {p['name']:<{width}}  {s['wins'][who]:>5}  "
                     f"{bc['black']['wins']:>4}/{bc['black']['games']:<4}  "
                     f"{bc['white']['wins']:>4}/{bc['white']['games']:<4}  "
                     f"{'-' if spm is None else f'{spm:.3f}':>7}")
    if s["wins"]["draws"]:
        lines.append(f"  draws: {s['wins']['draws']}")
    if s["games"]:
        lo, hi = s["win_rate_a_ci95"]
        lines.append(f"Win rate A: {100 * s['win_rate_a']:.1f}% (95% CI {100 * lo:.1f}% .. {100 * hi:.1f}%)")
        elo_lo, elo_hi = s["elo_a_ci95"]
        inf_side = 1 if s["win_rate_a"] > 0.5 else -1  # a null estimate is +inf or -inf
        lines.append(f"Elo A - B: {_fmt_elo(s['elo_a'], inf_side)} (95% CI {_fmt_elo(elo_lo, -1)} .. "
                     f"{_fmt_elo(elo_hi, +1)})")
        lines.append(f"Black won {s['black_wins']}, white won {s['white_wins']}; average length "
                     f"{s['average_game_length']:.1f} moves; ends: "
                     + ", ".join(f"{k} {v}" for k, v in sorted(s["end_reasons"].items())))
        if s["scoring"]:
            lines.append("Scored by " + ", ".join(f"{k} {v}" for k, v in sorted(s["scoring"].items())))
    if s["sprt"] is not None:
        sp = s["sprt"]
        state = {"H1": f"H1 accepted after {sp['decided_after']} games: A is at least {sp['elo1']:g} Elo stronger",
                 "H0": f"H0 accepted after {sp['decided_after']} games: A is at most {sp['elo0']:g} Elo stronger",
                 None: "undecided"}[sp["decision"]]
        lines.append(f"SPRT [{sp['elo0']:g}, {sp['elo1']:g}]: LLR {sp['llr']:+.2f} "
                     f"(bounds {sp['lower']:.2f} .. {sp['upper']:.2f}), {state}")
    if s["referee"] == "gnugo":
        lines.append(f"Referee disagreements (internal vs GNU Go): {len(s['referee_disagreements'])}"
                     + "".join(f"\n  game {x['game'] + 1}: internal {x['internal']}, GNU Go {x['gnugo']}"
                               for x in s["referee_disagreements"]))
        if s["referee_errors"]:
            lines.append(f"GNU Go could not score {len(s['referee_errors'])} games (internal score used)")
    if s["sgf"]:
        lines.append(f"SGF: {len(s['sgf'])} files in {os.path.dirname(s['sgf'][0])}")
    return "\n".join(lines)


def _fmt_elo(x, sign_if_none):
    if x is None:
        return "+inf" if sign_if_none > 0 else "-inf"
    return f"{x:+.0f}"


def write_summary(path, summary):
    """Write the summary as JSON (atomically: a crash never leaves half a file)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic.write_json(path, summary, indent=2, allow_nan=False)


# -- command line -------------------------------------------------------------------------
def _parse_sprt(text):
    try:
        elo0, elo1 = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ELO0,ELO1 (e.g. 0,50), got {text!r}") from None
    if not elo1 > elo0:
        raise argparse.ArgumentTypeError(f"need ELO0 < ELO1, got {text!r}")
    return elo0, elo1


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m selfplay.match",
        description="Play a match between two GTP engines and report which is stronger.",
        epilog="Players: mcts[:key=value,...] or random (the internal engine, python -m gtp; keys "
               "become flags, foo_bar=1 -> --foo-bar 1, name=X names the player), or an engine "
               "command line prefixed with gtp: or starting with an executable path, e.g. "
               "'gtp:/usr/games/gnugo --mode gtp --level 10'.")
    p.add_argument("player_a", help="player A (the one the win rate and Elo are about)")
    p.add_argument("player_b", help="player B")
    p.add_argument("--name-a", help="display name of player A")
    p.add_argument("--name-b", help="display name of player B")
    p.add_argument("--games", type=int, default=MatchConfig.games,
                   help=f"games to play (default {MatchConfig.games})")
    add_settings(p)
    p.add_argument("--sprt", type=_parse_sprt, default=None, metavar="ELO0,ELO1",
                   help="stop when the SPRT accepts H0 (A is ELO0 stronger) or H1 (ELO1)")
    p.add_argument("--alpha", type=float, default=MatchConfig.alpha,
                   help="SPRT false-H1 rate (default 0.05)")
    p.add_argument("--beta", type=float, default=MatchConfig.beta,
                   help="SPRT false-H0 rate (default 0.05)")
    p.add_argument("--sgf-dir", help="write one SGF per game into this directory")
    p.add_argument("--log-dir", help="write each engine's stderr into this directory")
    p.add_argument("--out", help="write the summary as JSON to this file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def add_settings(p):
    """The options of how games are played and scored, shared by the match and tournament
    commands; ``settings_from_args`` turns them into ``MatchConfig`` keywords."""
    d = MatchConfig()
    p.add_argument("--size", type=int, default=d.size, help=f"board size (default {d.size})")
    p.add_argument("--komi", type=float, default=d.komi, help=f"komi (default {d.komi:g})")
    p.add_argument("--ko-rule", choices=KO_RULES, default=d.ko_rule,
                   help=f"referee's ko rule (default {d.ko_rule} superko)")
    p.add_argument("--max-moves", type=int, default=None,
                   help="move cap, passes included; the game is scored there (default 3*size*size)")
    p.add_argument("--parallel", type=int, default=d.parallel,
                   help="games played at once, each with its own engines (default 1)")
    p.add_argument("--move-timeout", type=float, default=d.move_timeout,
                   help=f"seconds per move before the engine loses the game (default {d.move_timeout:g})")
    p.add_argument("--startup-timeout", type=float, default=d.startup_timeout,
                   help="extra seconds for a fresh engine to start and play its first move "
                        f"(default {d.startup_timeout:g})")
    p.add_argument("--opening-moves", type=int, default=d.opening_moves,
                   help="random moves before the engines take over; each opening is played twice, "
                        "colours swapped (default 0)")
    p.add_argument("--seed", type=int, default=d.seed, help="seed for openings, engines, scoring")
    p.add_argument("--referee", choices=REFEREES, default=d.referee,
                   help="scoring of finished games: internal (dead stones by Monte-Carlo ownership, "
                        "then area), tromp-taylor (plain area) or gnugo (GNU Go final_score, compared "
                        "with internal) (default internal)")
    p.add_argument("--referee-cmd", default=d.referee_cmd,
                   help=f"GNU Go command line for --referee gnugo (default '{d.referee_cmd}')")
    p.add_argument("--ownership-playouts", type=int, default=d.ownership_playouts,
                   help=f"playouts to find dead stones (default {d.ownership_playouts})")


def settings_from_args(args):
    """``MatchConfig`` keywords of the options ``add_settings`` added."""
    return dict(size=args.size, komi=args.komi, ko_rule=args.ko_rule, max_moves=args.max_moves,
                parallel=args.parallel, move_timeout=args.move_timeout,
                startup_timeout=args.startup_timeout, opening_moves=args.opening_moves,
                seed=args.seed, referee=args.referee, referee_cmd=args.referee_cmd,
                ownership_playouts=args.ownership_playouts)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        a = parse_player(args.player_a, args.name_a)
        b = parse_player(args.player_b, args.name_b)
        cfg = MatchConfig(games=args.games, sprt=args.sprt, alpha=args.alpha, beta=args.beta,
                          sgf_dir=args.sgf_dir, log_dir=args.log_dir, **settings_from_args(args))
    except ValueError as e:
        parser.error(str(e))
    if cfg.referee == "gnugo":
        try:
            parse_player("gtp:" + cfg.referee_cmd)
        except ValueError as e:
            parser.error(f"--referee-cmd: {e}")
    command = shlex.join([os.path.basename(sys.executable), "-m", "selfplay.match", *argv])
    try:
        summary = run_match(a, b, cfg, progress=not args.no_progress, command_line=command)
    except MatchError as e:
        print(f"match: {e}", file=sys.stderr)
        return 2
    print(format_summary(summary))
    if args.out:
        write_summary(args.out, summary)
    return 130 if summary["interrupted"] else 0


if __name__ == "__main__":
    sys.exit(main())
