"""Go as a gymnasium environment: ``GoEnv``, registered as ``"alphago/Go-v0"``.

    import gymnasium
    import engine.env  # registers the id
    env = gymnasium.make("alphago/Go-v0", size=9, opponent="random")
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample(mask=info["action_mask"]))

``gymnasium.make("engine.env:alphago/Go-v0", ...)`` imports this module by itself.

Modes
    ``opponent=None``: two players; the agent chooses every move, black's and white's.
    ``opponent="random"`` or a callable: a fixed policy plays the colour that is not
    ``agent_color``; each ``step`` is the agent's move followed by the opponent's reply.
    ``"random"`` plays uniformly among legal points that do not fill its own single-point
    eye and passes when none is left, drawing from the env's seeded ``np_random``. A callable
    is called as ``opponent(state, color) -> action`` with a copy of the ``GameState`` and
    must return a legal action; an illegal one raises ``ValueError`` and the step is undone.
    ``reset(options={"state": game_state})`` starts from a given position (an SGF, a diagram);
    when the opponent is to move there, it replies before the first observation.

Observation: uint8 planes [5, N, N], row 0 the top row. "Own" is the agent's colour when an
opponent is set, otherwise the colour to move.
    0  own stones
    1  the other colour's stones
    2  empty points
    3  all ones when "own" is black, all zeros when white (komi makes colours unequal)
    4  the last move played (all zeros before the first move and after a pass)

Actions: ``Discrete(N*N + 1)``; action ``r*N + c`` plays row ``r`` from the top, column
``c`` from the left, action ``N*N`` passes. ``info["action_mask"]`` (int8[N*N + 1], the form
``Discrete.sample(mask=...)`` takes; ``action_masks()`` gives it as bool) marks the legal
actions for the colour to move under the ko rule, superko included; pass is always legal.
Once the episode is over the mask is all zeros.

Rewards: 0 until the game ends, then +1 / -1 / 0 (win, loss, jigo) by Tromp-Taylor area
score with komi, no dead-stone removal. The point of view is the colour that chose the
step's action: the agent's colour against an opponent (also when the opponent's reply ends
the game), the player who made the final move in two-player mode.

Episode end: two passes in a row end the game (``terminated``). The move limit (passes
included; 3*N*N as in ``GameState`` unless ``move_limit`` is set) stops it and the position
is scored as it stands (``truncated``, with the reward). Ending steps add ``score`` (black
minus white minus komi), ``winner`` (1 black, 2 white, 0 none), ``result`` (``B+3.5``) and
``end`` (``"passes"``, ``"move_limit"`` or ``"illegal"``) to ``info``.

Illegal actions: an action inside the action space that the rules forbid (occupied point,
suicide, ko, superko) ends the episode at once with reward -1 for the colour that chose it
and the board unchanged; ``info`` then holds ``illegal_action=True``, the reason and a
forfeit ``result`` (``W+F``). Masked agents never hit this, and random ones do not crash. An
action outside the action space raises ``ValueError``; stepping a finished episode raises
``RuntimeError``.

Rendering: ``"ansi"`` gives a GNU Go style text board (``X`` black, ``O`` white, ``+`` star
points, the last move in parentheses); ``"rgb_array"`` an HxWx3 uint8 picture of a wooden
board drawn with numpy, ``render_cell`` pixels between lines.
"""
import dataclasses
from dataclasses import dataclass

import gymnasium
import numpy as np
from gymnasium import spaces

from engine import board as fb
from engine.board import BLACK, WHITE, PASS, from_action, to_action
from engine.coords import GTP_COLUMNS, format_vertex, parse_color
from engine.game import KO_RULES, GameState, result_string

ENV_ID = "alphago/Go-v0"
N_PLANES = 5
PLANE_OWN, PLANE_OTHER, PLANE_EMPTY, PLANE_OWN_IS_BLACK, PLANE_LAST_MOVE = range(N_PLANES)


@dataclass(frozen=True)
class GoEnvConfig:
    """Settings of a GoEnv; ``gymnasium.make`` keyword arguments name these fields."""
    size: int = 9  # board size N, 2..19
    komi: float = 7.5  # points added to white's area score
    ko_rule: str = "positional"  # "simple", "positional" or "situational" superko
    opponent: object = None  # None (two players), "random", or callable(state, color) -> action
    agent_color: object = "black"  # the agent's colour against an opponent: "black"/"white" or 1/2
    move_limit: int | None = None  # moves (passes included) before the game is scored; None: 3*N*N
    render_cell: int = 32  # pixels between grid lines in rgb_array frames


def star_points(n):
    """Star points (row from the top, col) drawn on a board of size n."""
    if n < 7:
        return []
    e = 2 if n <= 11 else 3
    lines = [e, n - 1 - e]
    if n % 2 == 1 and n >= 13:
        lines.insert(1, n // 2)
    pts = [(r, c) for r in lines for c in lines]
    if n % 2 == 1 and n < 13:
        pts.append((n // 2, n // 2))
    return sorted(pts)


def board_to_text(state):
    """GNU Go style text board of ``state`` with a status line under it."""
    n = state.size
    stones = state.stones()
    stars = set(star_points(n))
    last = state.last_move
    lr, lc = fb.rowcol(n, last.point) if last is not None and last.point != PASS else (-1, -1)
    letters = "   " + " ".join(GTP_COLUMNS[:n])
    lines = [letters]
    for r in range(n):
        num = n - r
        row = f"{num:2d}"
        for c in range(n):
            v = stones[r, c]
            ch = "X" if v == BLACK else "O" if v == WHITE else "+" if (r, c) in stars else "."
            sep = "(" if (r == lr and c == lc) else ")" if (r == lr and c == lc + 1) else " "
            row += sep + ch
        row += (")" if (r == lr and lc == n - 1) else " ") + f"{num}"
        lines.append(row)
    lines.append(letters)
    m = state.board[8]
    who = "black" if state.to_move == BLACK else "white"
    status = (f"{who} to play, {len(state.history)} moves played, komi {state.komi:g}, "
              f"captures black {int(m[fb.M_CAPB])} white {int(m[fb.M_CAPW])}")
    if last is not None:
        status += f", last move {'black' if last.color == BLACK else 'white'} {format_vertex(last.point, n)}"
    lines.append(status)
    return "\n".join(lines) + "\n"


_WOOD = np.array([218, 176, 102], np.float32)
_INK = np.array([45, 32, 14], np.float32)


def _disc(patch_half, radius):
    """Coverage (0..1, anti-aliased edge) of a disc of ``radius`` centred in a square patch."""
    d = np.arange(-patch_half, patch_half + 1, dtype=np.float32)
    dist = np.sqrt(d[:, None] ** 2 + d[None, :] ** 2)
    return np.clip(radius + 0.5 - dist, 0.0, 1.0)[..., None], dist


def board_to_rgb(state, cell=32):
    """uint8[H, W, 3] picture of ``state``: wooden board, grid, star points, stones, and a
    dot on the last move; H = W = (N + 1) * cell."""
    if cell < 8:
        raise ValueError(f"render cell must be at least 8 pixels, got {cell}")
    n = state.size
    side = (n + 1) * cell
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    grain = 0.6 * np.sin(xx * 0.05 + 2.5 * np.sin(yy * 0.013)) + 0.25 * np.sin(xx * 0.23 + yy * 0.02)
    img = _WOOD + grain[..., None] * np.array([12, 10, 6], np.float32)

    lo, hi = cell, n * cell  # pixel of the first and the last line
    for i in range(n):
        pos = (i + 1) * cell
        width = 2 if i in (0, n - 1) else 1
        img[pos:pos + width, lo:hi + 2] = _INK
        img[lo:hi + 2, pos:pos + width] = _INK

    h = cell // 2
    star, _ = _disc(h, max(2.0, cell * 0.09))
    stone, dist = _disc(h, cell * 0.47)
    d = np.arange(-h, h + 1, dtype=np.float32)
    light = np.sqrt((d[:, None] + cell * 0.15) ** 2 + (d[None, :] + cell * 0.15) ** 2)
    shade = np.clip(light / (cell * 0.6), 0.0, 1.0)[..., None]  # 0 at the highlight, 1 far from it
    faces = {
        BLACK: np.array([85, 85, 85], np.float32) * (1 - shade) + np.array([12, 12, 14], np.float32) * shade,
        WHITE: np.array([255, 255, 255], np.float32) * (1 - shade) + np.array([196, 196, 190], np.float32) * shade,
    }
    rim = np.clip(1.2 - np.abs(dist - cell * 0.47), 0.0, 1.0)[..., None] * 0.7
    dot, _ = _disc(h, cell * 0.12)

    def paste(r, c, alpha, color):
        y, x = (r + 1) * cell, (c + 1) * cell
        area = img[y - h:y + h + 1, x - h:x + h + 1]
        area[:] = area * (1 - alpha) + color * alpha

    for r, c in star_points(n):
        paste(r, c, star, _INK)
    stones = state.stones()
    for r, c in zip(*np.nonzero(stones)):
        paste(r, c, stone, faces[int(stones[r, c])])
        if stones[r, c] == WHITE:
            paste(r, c, rim, np.array([110, 110, 105], np.float32))
    last = state.last_move
    if last is not None and last.point != PASS:
        r, c = fb.rowcol(n, last.point)
        marker = np.array([235, 235, 235] if last.color == BLACK else [20, 20, 20], np.float32)
        paste(r, c, dot, marker)
    return np.clip(img, 0, 255).astype(np.uint8)


def _agent_color(value):
    if value in (BLACK, WHITE) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        return parse_color(value)
    raise ValueError(f"agent_color must be 'black', 'white', 1 or 2, got {value!r}")


class GoEnv(gymnasium.Env):
    """Go on an N x N board with Tromp-Taylor scoring; see the module docstring for the
    observation, actions, rewards and episode end."""

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(self, render_mode=None, config=None, **settings):
        cfg = config if config is not None else GoEnvConfig()
        if settings:
            fields = {f.name for f in dataclasses.fields(GoEnvConfig)}
            unknown = sorted(set(settings) - fields)
            if unknown:
                raise TypeError(f"unknown GoEnv setting(s) {unknown}; known: {sorted(fields)}")
            cfg = dataclasses.replace(cfg, **settings)
        if isinstance(cfg.size, bool) or not isinstance(cfg.size, (int, np.integer)) or not 2 <= cfg.size <= fb.MAX_N:
            raise ValueError(f"board size must be an integer 2..{fb.MAX_N}, got {cfg.size!r}")
        if cfg.ko_rule not in KO_RULES:
            raise ValueError(f"ko_rule must be one of {KO_RULES}, got {cfg.ko_rule!r}")
        if not (cfg.opponent is None or cfg.opponent == "random" or callable(cfg.opponent)):
            raise ValueError(f"opponent must be None, 'random' or a callable, got {cfg.opponent!r}")
        if cfg.move_limit is not None and cfg.move_limit < 2:
            raise ValueError(f"move_limit must be at least 2, got {cfg.move_limit}")
        if cfg.render_cell < 8:
            raise ValueError(f"render_cell must be at least 8 pixels, got {cfg.render_cell}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.config = cfg
        self.render_mode = render_mode
        self._agent = _agent_color(cfg.agent_color) if cfg.opponent is not None else None
        n = int(cfg.size)
        self.size = n
        self.observation_space = spaces.Box(0, 1, shape=(N_PLANES, n, n), dtype=np.uint8)
        self.action_space = spaces.Discrete(n * n + 1)
        self._state = None  # GameState of the episode, None before the first reset
        self._done = True  # the episode has ended; step needs a reset

    @property
    def state(self):
        """The episode's GameState (treat as read-only), None before the first reset."""
        return self._state

    # -- gymnasium API ------------------------------------------------------------------
    def reset(self, *, seed=None, options=None):
        """New game; ``options={"state": GameState}`` starts from a copy of that position
        instead (same board size; its komi and ko rule are kept), e.g. a position from an SGF."""
        super().reset(seed=seed)
        cfg = self.config
        start = (options or {}).get("state")
        if start is None:
            self._state = GameState(self.size, komi=cfg.komi, ko_rule=cfg.ko_rule, move_limit=cfg.move_limit)
        elif not isinstance(start, GameState) or start.size != self.size:
            raise ValueError(f"options['state'] must be a GameState of size {self.size}")
        elif start.is_over():
            raise ValueError("options['state'] is a finished game")
        else:
            self._state = start.copy()
        self._done = False
        info = {}
        if self._agent is not None and self._state.to_move != self._agent:
            info["opponent_action"] = self._opponent_move()
            self._done = self._state.is_over()  # only when a given position ends on this reply
        return self._observation(), self._info(info)

    def step(self, action):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        if self._done:
            raise RuntimeError("the episode is over; call reset() to start a new game")
        a = self._check_action(action)
        g = self._state
        mover = g.to_move
        p = from_action(self.size, a)
        reason = g.check_move(mover, p)
        if reason is not None:
            self._done = True
            winner = 3 - mover
            info = {"illegal_action": True, "illegal_reason": reason, "end": "illegal",
                    "winner": winner, "result": f"{'B' if winner == BLACK else 'W'}+F"}
            return self._observation(), -1.0, True, False, self._info(info)
        g.play(mover, p)
        info = {}
        if self._agent is not None and not g.is_over():
            try:
                info["opponent_action"] = self._opponent_move()
            except Exception:
                g.undo()
                raise
        if not g.is_over():
            return self._observation(), 0.0, False, False, self._info(info)
        self._done = True
        score = g.score()
        winner = BLACK if score > 0 else WHITE if score < 0 else 0
        me = self._agent if self._agent is not None else mover
        reward = 0.0 if winner == 0 else (1.0 if winner == me else -1.0)
        by_passes = g.passes >= 2
        info.update(score=score, winner=winner, result=result_string(score),
                    end="passes" if by_passes else "move_limit")
        return self._observation(), reward, by_passes, not by_passes, self._info(info)

    def render(self):
        if self.render_mode is None:
            return None
        g = self._state if self._state is not None else GameState(self.size, komi=self.config.komi)
        if self.render_mode == "ansi":
            return board_to_text(g)
        return board_to_rgb(g, self.config.render_cell)

    def action_masks(self):
        """Legal actions now as bool[N*N + 1] (the form maskable policies ask for)."""
        return self._mask().astype(bool)

    # -- internals ----------------------------------------------------------------------
    def _check_action(self, action):
        if isinstance(action, np.ndarray) and action.shape == ():
            action = action.item()
        if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)):
            raise ValueError(f"action must be an integer 0..{self.size * self.size}, got {action!r}")
        a = int(action)
        if not 0 <= a <= self.size * self.size:
            raise ValueError(f"action {a} is outside 0..{self.size * self.size} (N*N = pass)")
        return a

    def _opponent_move(self):
        """Let the opponent play the colour to move; returns its action."""
        g = self._state
        c = g.to_move
        n = self.size
        opp = self.config.opponent
        if opp == "random":
            pts = [p for p in g.legal_points(c) if not fb.is_eye(g.board, p, c)]
            p = pts[int(self.np_random.integers(len(pts)))] if pts else PASS
        else:
            a = opp(g.copy(), c)
            if isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer)) or not 0 <= a <= n * n:
                raise ValueError(f"opponent returned {a!r}, not an action 0..{n * n}")
            p = from_action(n, int(a))
            reason = g.check_move(c, p)
            if reason is not None:
                raise ValueError(f"opponent chose an illegal move {format_vertex(p, n)} ({reason})")
        g.play(c, p)
        return to_action(n, p)

    def _mask(self):
        n = self.size
        mask = np.zeros(n * n + 1, dtype=np.int8)
        if self._state is None or self._done:
            return mask
        g = self._state
        return g.legal_mask(g.to_move).astype(np.int8)

    def _observation(self):
        g = self._state
        stones = g.stones()
        own = self._agent if self._agent is not None else g.to_move
        obs = np.zeros((N_PLANES, self.size, self.size), dtype=np.uint8)
        obs[PLANE_OWN] = stones == own
        obs[PLANE_OTHER] = stones == 3 - own
        obs[PLANE_EMPTY] = stones == 0
        obs[PLANE_OWN_IS_BLACK] = own == BLACK
        last = g.last_move
        if last is not None and last.point != PASS:
            r, c = fb.rowcol(self.size, last.point)
            obs[PLANE_LAST_MOVE, r, c] = 1
        return obs

    def _info(self, extra):
        g = self._state
        info = {"action_mask": self._mask(), "to_play": g.to_move, "move_number": len(g.history)}
        info.update(extra)
        return info


if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="engine.env:GoEnv")
