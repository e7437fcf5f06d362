"""Game clocks and how much of them one move may spend.

A ``Clock`` keeps both players' remaining time under one of four systems, set by GTP:

    none      no limit (the default)
    absolute  ``main`` seconds for the whole game
    byoyomi   ``main`` seconds, then ``periods`` periods of ``byo`` seconds; a move that
              finishes inside a period keeps it, each overrun period is lost
    canadian  ``main`` seconds, then ``byo`` seconds for every ``stones`` moves

``time_settings main byo stones`` (GTP 2) maps to absolute when ``byo == 0``, to no limit
when ``byo > 0`` and ``stones == 0`` (as the spec says), and to Canadian otherwise.
``kgs-time_settings`` names the system. ``time_left color seconds stones`` overwrites what
the clock believes; between such updates ``charge`` deducts measured thinking time, so
controllers that never send ``time_left`` are handled too.

``seconds_for_move`` turns the remaining time into a thinking time. Main time is spread
over the moves the player is still expected to make (``expected_moves``: a game lasts
about ``game_length_factor * N * N`` moves; the estimate never falls below
``min_moves_left``), so each move spends a fixed fraction of what is left and the clock
decays geometrically instead of running out. Overtime is spent one period (byo-yomi) or
one stone's share (Canadian) at a time, never risking a period. Every allocation keeps
``lag_margin`` seconds back for the controller, the GUI and the pipe.

``budget`` combines that with the engine's own limits (a fixed ``seconds`` per move and a
``visits`` cap): whichever is smallest wins.
"""
import math
from dataclasses import dataclass, field

from engine.player import Budget

KINDS = ("none", "absolute", "byoyomi", "canadian")


@dataclass(frozen=True)
class TimeSettings:
    """A time system as the controller set it."""
    kind: str = "none"  # one of KINDS
    main: float = 0.0  # main time in seconds
    byo: float = 0.0  # byo-yomi period length, or Canadian overtime block length, in seconds
    stones: int = 0  # Canadian: moves per overtime block; byoyomi: number of periods


@dataclass(frozen=True)
class TimeConfig:
    """How carefully the engine spends its clock."""
    lag_margin: float = 0.5  # seconds kept back on every move for transmission and GUI lag
    min_seconds: float = 0.05  # floor of any allocation: always think at least this long
    game_length_factor: float = 0.75  # expected moves of a whole game, per board point
    min_moves_left: float = 10.0  # own moves still assumed ahead, however late the game


@dataclass
class _PlayerClock:
    """One player's remaining time."""
    main: float = 0.0  # main time left, seconds
    overtime: bool = False  # main time is used up
    period: float = 0.0  # time left in the current byo-yomi period / Canadian block
    stones: int = 0  # Canadian: moves left to play in the current block
    periods: int = 0  # byoyomi: periods left


@dataclass
class Clock:
    """Both players' clocks under one ``TimeSettings``."""
    settings: TimeSettings = field(default_factory=TimeSettings)
    config: TimeConfig = field(default_factory=TimeConfig)

    def __post_init__(self):
        self.reset()

    # -- settings ---------------------------------------------------------------------
    def reset(self):
        """Both players get the full time of the current settings (new game)."""
        self._clocks = {1: self._fresh(), 2: self._fresh()}

    def _fresh(self):
        s = self.settings
        pc = _PlayerClock(main=s.main)
        if s.kind == "byoyomi":
            pc.periods = s.stones
            pc.period = s.byo
        elif s.kind == "canadian":
            pc.period = s.byo
            pc.stones = s.stones
        if s.kind in ("byoyomi", "canadian") and s.main <= 0:
            pc.overtime = True
        return pc

    def set(self, settings):
        if settings.kind not in KINDS:
            raise ValueError(f"unknown time system '{settings.kind}'")
        if settings.main < 0 or settings.byo < 0 or settings.stones < 0:
            raise ValueError("time settings must not be negative")
        if settings.kind in ("byoyomi", "canadian") and (settings.byo <= 0 or settings.stones <= 0):
            raise ValueError(f"{settings.kind} needs a positive period length and count")
        self.settings = settings
        self.reset()

    def set_gtp(self, main, byo, stones):
        """GTP ``time_settings``: absolute when byo == 0, unlimited when byo > 0 and
        stones == 0, Canadian otherwise."""
        main, byo, stones = float(main), float(byo), int(stones)
        if main < 0 or byo < 0 or stones < 0:
            raise ValueError("time settings must not be negative")
        if byo == 0:
            self.set(TimeSettings("absolute", main))
        elif stones == 0:
            self.set(TimeSettings("none"))
        else:
            self.set(TimeSettings("canadian", main, byo, stones))

    def set_kgs(self, kind, *args):
        """``kgs-time_settings none | absolute main | byoyomi main byo periods |
        canadian main byo stones``."""
        kind = kind.lower()
        want = {"none": 0, "absolute": 1, "byoyomi": 3, "canadian": 3}
        if kind not in want:
            raise ValueError(f"unknown time system '{kind}'")
        if len(args) != want[kind]:
            raise ValueError(f"{kind} takes {want[kind]} arguments, got {len(args)}")
        if kind == "none":
            self.set(TimeSettings("none"))
        elif kind == "absolute":
            self.set(TimeSettings("absolute", float(args[0])))
        else:
            self.set(TimeSettings(kind, float(args[0]), float(args[1]), int(args[2])))

    @property
    def unlimited(self):
        return self.settings.kind == "none"

    # -- updates ----------------------------------------------------------------------
    def time_left(self, color, seconds, stones):
        """GTP ``time_left``: ``stones == 0`` means main time; otherwise the player is in
        overtime with ``stones`` moves left in the block (Canadian) or, as KGS sends it,
        ``stones`` periods left (byo-yomi)."""
        seconds, stones = float(seconds), int(stones)
        if seconds < 0 or stones < 0:
            raise ValueError("time left must not be negative")
        s = self.settings
        pc = self._clocks[color]
        if s.kind == "none":
            return
        if s.kind == "absolute" or stones == 0:
            pc.main = seconds
            pc.overtime = False
            if s.kind == "byoyomi":
                pc.period, pc.periods = s.byo, s.stones
            elif s.kind == "canadian":
                pc.period, pc.stones = s.byo, s.stones
            return
        pc.main = 0.0
        pc.overtime = True
        pc.period = seconds
        if s.kind == "canadian":
            pc.stones = stones
        else:
            pc.periods = stones

    def charge(self, color, elapsed):
        """Deduct ``elapsed`` seconds of thinking for one move by ``color``."""
        s = self.settings
        pc = self._clocks[color]
        if s.kind == "none":
            return
        t = max(0.0, float(elapsed))
        if not pc.overtime:
            if t <= pc.main or s.kind == "absolute":
                pc.main = max(0.0, pc.main - t)
                return
            t -= pc.main
            pc.main = 0.0
            pc.overtime = True
        if s.kind == "byoyomi":
            # the period restarts every move; each full overrun costs one period
            lost = int(t // s.byo) if t > 0 else 0
            pc.periods = max(0, pc.periods - lost)
            pc.period = s.byo
        elif s.kind == "canadian":
            pc.period = max(0.0, pc.period - t)
            pc.stones -= 1
            if pc.stones <= 0:
                pc.period, pc.stones = s.byo, s.stones

    def remaining(self, color):
        """(main seconds, overtime?, period seconds, stones or periods left) for display."""
        pc = self._clocks[color]
        left = pc.periods if self.settings.kind == "byoyomi" else pc.stones
        return pc.main, pc.overtime, pc.period, left

    # -- allocation -------------------------------------------------------------------
    def expected_moves(self, move_number, board_size):
        """Own moves the player is still expected to make after ``move_number`` moves."""
        cfg = self.config
        total = cfg.game_length_factor * board_size * board_size
        return max(cfg.min_moves_left, (total - move_number) / 2.0)

    def seconds_for_move(self, color, move_number, board_size):
        """Thinking time for ``color``'s next move; ``math.inf`` when there is no limit."""
        s, cfg = self.settings, self.config
        pc = self._clocks[color]
        if s.kind == "none":
            return math.inf
        if s.kind == "byoyomi" and pc.overtime and pc.periods <= 0:
            return cfg.min_seconds  # periods exhausted: nothing left to spend safely
        # spend one overtime unit at a time
        if s.kind == "byoyomi":
            over = s.byo - cfg.lag_margin  # a whole period, every move
        elif s.kind == "canadian":
            if pc.overtime:
                over = pc.period / max(1, pc.stones) - cfg.lag_margin
            else:
                over = s.byo / s.stones - cfg.lag_margin
        else:
            over = 0.0
        over = max(0.0, over)
        if pc.overtime:
            return max(cfg.min_seconds, over)
        share = pc.main / self.expected_moves(move_number, board_size)
        if s.kind == "absolute":
            share -= cfg.lag_margin
        # main time that runs out mid-move flows into overtime, which ``over`` covers
        return max(cfg.min_seconds, share + over)

    def budget(self, color, move_number, board_size, seconds=None, visits=None, default_seconds=None):
        """The ``Budget`` for one move: the clock's allocation, capped by a fixed
        ``seconds`` per move and ``visits``. With no clock and no limit given,
        ``default_seconds`` (if any) bounds the move."""
        t = self.seconds_for_move(color, move_number, board_size)
        if seconds is not None:
            t = min(t, float(seconds))
        if math.isinf(t):
            t = default_seconds if visits is None else None
        return Budget(visits=visits, seconds=t)
