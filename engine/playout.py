"""Playouts (rollouts) in Numba: play a position to the end and score it.

``run_playout(b, rng, mode, komi, pat_weights)`` plays from ``b`` (mutated: pass a copy)
with the side to move in ``b``'s meta, until two passes or a move cap, and returns the
Tromp-Taylor score for black (komi subtracted).

Modes: MODE_LIGHT = uniform among legal moves that do not fill an own single-point eye.
"""
import numpy as np
from numba import njit

from engine.board import (EMPTY, PASS, M_N, M_NEMPTY, M_TOMOVE, M_PASSES, area_score,
                          is_eye, is_legal, play)
from engine.rng import rand_below

MODE_LIGHT = 0


@njit(cache=True)
def choose_light(b, c, rng):
    """Random legal non-eye-filling move for c: random start in the empty list, then scan."""
    empt = b[5]
    ne = b[8][M_NEMPTY]
    if ne == 0:
        return PASS
    start = rand_below(rng, ne)
    for i in range(ne):
        k = start + i
        if k >= ne:
            k -= ne
        p = empt[k]
        if is_legal(b, p, c) and not is_eye(b, p, c):
            return p
    return PASS


@njit(cache=True)
def run_playout(b, rng, mode, komi, pat_weights):
    meta = b[8]
    n = meta[M_N]
    limit = 3 * n * n
    moves = 0
    while meta[M_PASSES] < 2 and moves < limit:
        c = meta[M_TOMOVE]
        p = choose_light(b, c, rng)
        play(b, p, c)
        moves += 1
    return area_score(b, komi)
