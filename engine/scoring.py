"""End-of-game scoring with dead stones, as a Chinese-rules player counts.

Tromp-Taylor area scoring (``GameState.score``) counts every stone on the board as alive.
At the end of a real game, stones that could not avoid capture are still standing; area
rules remove them first. This module decides which stones are dead by playing the
position out many times:

1. ``mc_ownership``: run playouts from the position (played on even when the game has
   ended with two passes) and average the final Tromp-Taylor owner of every point.
2. ``dead_stones``: a chain is dead when the mean ownership of its stones points to the
   opponent by more than ``threshold``; the decision is per chain, never per stone.
3. ``score_with_dead``: remove the dead stones and count Tromp-Taylor area, komi
   subtracted (black-positive).
4. ``final_status``: every stone as alive, dead or seki. Seki stones are living stones
   next to a neutral empty point (its region touches both colours once the dead stones
   are gone) that neither side can fill without putting its own chain in atari; the
   shared liberties of a seki stay neutral in the score. Dame between living groups are
   not seki: filling them costs nothing.
5. ``final_score``: the three steps in one call.

Points are padded board points (``engine.board.point``); ownership arrays are
float32[N*N], row-major from the top, +1 black.
"""
import numpy as np

from engine import board as fb
from engine.board import BLACK, EMPTY, WHITE
from engine.playout import MODE_HEURISTIC, check_pattern_weights, default_pattern_weights, \
    playout_owner_sum
from engine.rng import new_rng

DEAD_THRESHOLD = 0.4  # a chain is dead when its mean ownership is this far on the opponent's side


def _check_state(state):
    if not hasattr(state, "board") or not hasattr(state, "size"):
        raise TypeError("expected a GameState")


def mc_ownership(state, playouts=200, seed=0, mode=MODE_HEURISTIC, pat_weights=None):
    """Mean final owner of every point over ``playouts`` playouts from ``state`` (side to
    move ``state.to_move``): float32[N*N], +1 black, -1 white, row-major from the top."""
    _check_state(state)
    playouts = int(playouts)
    if playouts < 1:
        raise ValueError(f"playouts must be at least 1, got {playouts}")
    if pat_weights is None:
        pat_weights = default_pattern_weights()
    pat_weights = check_pattern_weights(pat_weights, mode)
    n = state.size
    acc = np.zeros(n * n, dtype=np.float64)
    playout_owner_sum(state.board, playouts, int(mode), float(state.komi), pat_weights,
                      new_rng(seed), acc)
    return (acc / playouts).astype(np.float32)


def _chains(state):
    """{head: [padded points]} of every chain on the board."""
    color = state.board[0]
    head = state.board[2]
    out = {}
    for p in np.nonzero((color == BLACK) | (color == WHITE))[0]:
        out.setdefault(int(head[p]), []).append(int(p))
    return out


def _index(n, p):
    r, c = fb.rowcol(n, p)
    return r * n + c


def _check_ownership(state, ownership):
    own = np.asarray(ownership, dtype=np.float64)
    n = state.size
    if own.shape != (n * n,):
        raise ValueError(f"ownership must have shape ({n * n},), got {own.shape}")
    return own


def dead_stones(state, ownership, threshold=DEAD_THRESHOLD):
    """Padded points of the stones of every chain whose mean ownership points to the
    opponent by more than ``threshold`` (black chains below -threshold, white above)."""
    _check_state(state)
    own = _check_ownership(state, ownership)
    n = state.size
    color = state.board[0]
    dead = []
    for h, pts in _chains(state).items():
        m = float(np.mean([own[_index(n, p)] for p in pts]))
        if (color[h] == BLACK and m < -threshold) or (color[h] == WHITE and m > threshold):
            dead.extend(pts)
    return sorted(dead)


def _board_without(state, dead):
    """A consistent fast board holding the state's stones minus ``dead``. Stones are placed
    one by one: no chain of a legal position minus whole chains ever lacks a liberty, so
    nothing is captured on the way."""
    n = state.size
    color = state.board[0]
    dead = set(int(p) for p in dead)
    for p in dead:
        if not (0 <= p < color.shape[0]) or color[p] not in (BLACK, WHITE):
            raise ValueError(f"dead point {p} holds no stone")
    b = fb.new_board(n)
    for p in np.nonzero((color == BLACK) | (color == WHITE))[0]:
        p = int(p)
        if p not in dead:
            fb.play(b, p, int(color[p]))
    return b


def score_with_dead(state, dead):
    """Tromp-Taylor area score after removing the ``dead`` stones (on a copy), komi
    subtracted, black-positive."""
    _check_state(state)
    b = _board_without(state, dead)
    return float(fb.area_score(b, state.komi))


def _regions(b, n):
    """Empty regions of a board: (region id per padded point or -1, colours each touches)."""
    color = b[0]
    w = n + 2
    rid = np.full(color.shape[0], -1, dtype=np.int64)
    touch = []
    for p in range(color.shape[0]):
        if color[p] != EMPTY or rid[p] >= 0:
            continue
        k = len(touch)
        t = 0
        stack = [p]
        rid[p] = k
        while stack:
            s = stack.pop()
            for q in (s - w, s - 1, s + 1, s + w):
                cq = color[q]
                if cq == EMPTY and rid[q] < 0:
                    rid[q] = k
                    stack.append(q)
                elif cq in (BLACK, WHITE):
                    t |= int(cq)
        touch.append(t)
    return rid, touch


def final_status(state, ownership, threshold=DEAD_THRESHOLD):
    """{'alive': [...], 'dead': [...], 'seki': [...]}: padded points of every stone, each in
    exactly one list (see the module docstring for how seki is told apart from dame)."""
    _check_state(state)
    dead = dead_stones(state, ownership, threshold)
    n = state.size
    w = n + 2
    b = _board_without(state, dead)
    color = b[0]
    head = b[2]
    rid, touch = _regions(b, n)
    seki_heads = set()
    for p in np.nonzero(color == EMPTY)[0]:
        p = int(p)
        if color[p] != EMPTY or touch[rid[p]] != (BLACK | WHITE):
            continue
        nbrs = [q for q in (p - w, p - 1, p + 1, p + w) if color[q] in (BLACK, WHITE)]
        if not nbrs:
            continue
        # a shared liberty: whoever fills it leaves its own chain with at most one liberty
        if all(fb.libs_after(b, p, c) <= 1 for c in (BLACK, WHITE)):
            seki_heads.update(int(head[q]) for q in nbrs)
    seki = sorted(int(p) for p in np.nonzero((color == BLACK) | (color == WHITE))[0]
                  if int(head[p]) in seki_heads)
    seki_set = set(seki)
    alive = sorted(int(p) for p in np.nonzero((color == BLACK) | (color == WHITE))[0]
                   if int(p) not in seki_set)
    return {"alive": alive, "dead": dead, "seki": seki}


def final_score(state, playouts=200, seed=0, mode=MODE_HEURISTIC, threshold=DEAD_THRESHOLD):
    """Score of a finished game as area rules count it: Monte-Carlo ownership, dead chains
    removed, Tromp-Taylor area minus komi (black-positive)."""
    own = mc_ownership(state, playouts=playouts, seed=seed, mode=mode)
    return score_with_dead(state, dead_stones(state, own, threshold))
