"""What a player is, for GTP and the match runner.

A player chooses moves for a ``GameState``. ``gtp`` drives any object with this interface;
``engine.search.MCTSPlayer`` is the real one. ``RandomPlayer`` is the smallest complete
example and a test double.

Value perspective: every ``winrate`` a player reports is the probability that the side to
move at the analysed position wins, in [0, 1]. Ownership arrays are float32[N*N], row-major
from the top-left, +1 = black owns, -1 = white owns.
"""
import threading
from dataclasses import dataclass, field

import numpy as np

from engine.board import PASS


@dataclass(frozen=True)
class Budget:
    """How long one move may think; ``None`` fields do not limit."""
    visits: int | None = None  # stop after this many simulations from the root
    seconds: float | None = None  # stop after this much wall time


@dataclass
class MoveInfo:
    """One candidate move in an analysis snapshot (Leela Zero / KataGo analysis fields)."""
    move: int  # padded point or PASS
    visits: int  # visits of this child
    winrate: float  # for the side to move, 0..1
    prior: float  # policy prior, 0..1
    lcb: float  # lower confidence bound of winrate
    order: int  # rank, 0 = best
    pv: list = field(default_factory=list)  # principal variation, first element is ``move``
    score_lead: float = 0.0  # expected score lead for the side to move, in points


class Player:
    """Interface. Subclasses implement ``genmove``; the rest has working defaults."""
    name = "player"

    def new_game(self, state):
        """Forget anything kept from an earlier game (search trees, caches)."""

    def genmove(self, state, color, budget, on_info=None):
        """Choose a move for ``color`` (not necessarily ``state.to_move``): a padded point,
        PASS or RESIGN. ``on_info(list[MoveInfo], ownership or None)`` may be called while
        thinking. Must not change ``state``."""
        raise NotImplementedError

    def analyze(self, state, color, stop: threading.Event, interval_s, on_info, want_ownership=False):
        """Think about ``state`` with ``color`` to move until ``stop`` is set, calling
        ``on_info(list[MoveInfo], ownership or None)`` about every ``interval_s`` seconds."""
        stop.wait()

    def ownership(self, state):
        """Expected final owner of each point, float32[N*N], +1 black; used for dead stones."""
        return state.owner().astype(np.float32)


class RandomPlayer(Player):
    """Uniform among legal moves that do not fill an own single-point eye; passes otherwise."""
    name = "random"

    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)

    def genmove(self, state, color, budget, on_info=None):
        from engine.board import is_eye
        pts = [p for p in state.legal_points(color) if not is_eye(state.board, p, color)]
        return int(self.rng.choice(pts)) if pts else PASS


class BySizePlayer(Player):
    """One player per board size with a fallback for the others: how the engine plays a
    shipped network on the size it was trained for and pure MCTS elsewhere. Every call goes to
    the player of the position's size. A size's player is built on first use (``by_size`` maps
    the size to a no-argument factory), so a session that never plays that size never loads
    the network."""

    def __init__(self, by_size, fallback, names=None):
        self._factories = dict(by_size)  # board size -> factory of its player
        self._players = {}  # board size -> player, once built
        self.fallback = fallback  # player of every other size
        names = names or {}
        parts = [f"{n}x{n}: {names.get(n, 'own player')}" for n in sorted(self._factories)]
        self.name = ", ".join(parts + [f"other sizes: {fallback.name}"])

    def player_for(self, size):
        if size not in self._factories:
            return self.fallback
        if size not in self._players:
            self._players[size] = self._factories[size]()
        return self._players[size]

    def new_game(self, state):
        self.player_for(state.size).new_game(state)

    def genmove(self, state, color, budget, on_info=None):
        return self.player_for(state.size).genmove(state, color, budget, on_info)

    def analyze(self, state, color, stop, interval_s, on_info, want_ownership=False):
        return self.player_for(state.size).analyze(state, color, stop, interval_s, on_info,
                                                   want_ownership)

    def ownership(self, state):
        return self.player_for(state.size).ownership(state)
