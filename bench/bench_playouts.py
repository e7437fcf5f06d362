"""Playout speed per mode and board size (one thread), and playout quality.

Speed: playouts from the empty board, measured as ``copy_into`` + ``run_playout`` in a
jitted loop after a warm-up; prints playouts/s, playout moves/s, microseconds per
playout move and the mean playout length.

Quality: flat Monte-Carlo players (``flat_mc_move``: every legal move gets an equal share
of the playouts, the most-winning move is played) that differ only in playout mode play
each other on 9x9, colours alternating; prints the first mode's wins.

    .venv/bin/python bench/bench_playouts.py --seconds 2 --sizes 9,19
    .venv/bin/python bench/bench_playouts.py --games 20 --match heuristic:light,pattern:light
"""
import argparse
import math
import time

import numpy as np
from numba import njit

from engine.board import M_MOVES, M_PASSES, M_TOMOVE, area_score, copy_board, copy_into, \
    new_board, play
from engine.playout import MODES, default_pattern_weights, flat_mc_move, run_playout
from engine.rng import new_rng


# Not cached on purpose: numba's cache would keep a stale copy of the playout code after
# engine/playout.py or engine/board.py changes (it checks only this file's timestamp).
@njit
def _loop(b, b0, rng, k, mode, komi, pat_weights):
    """k playouts from b0; returns the playout moves played (passes included)."""
    moves = 0
    for _ in range(k):
        copy_into(b, b0)
        m0 = b[8][M_MOVES]
        run_playout(b, rng, mode, komi, pat_weights)
        moves += b[8][M_MOVES] - m0
    return moves


def speed(n, mode, seconds, pat_weights, komi=7.5):
    b0 = new_board(n)
    b = copy_board(b0)
    rng = new_rng(12345)
    _loop(b, b0, rng, 3, mode, komi, pat_weights)  # compile / load the cache
    playouts = 0
    moves = 0
    chunk = 50
    t0 = time.perf_counter()
    while True:
        moves += _loop(b, b0, rng, chunk, mode, komi, pat_weights)
        playouts += chunk
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return playouts / dt, moves / dt, moves / playouts
        if dt < seconds / 10:
            chunk *= 2


def play_match(mode_a, mode_b, games, playouts, pat_weights, n=9, komi=7.5, seed=0):
    """Flat-MC games, A black in even games; returns A's wins and the scores."""
    wins = 0
    scores = []
    for g in range(games):
        b = new_board(n)
        rng = new_rng(seed * 1000 + g)
        a_black = g % 2 == 0
        moves = 0
        while b[8][M_PASSES] < 2 and moves < 3 * n * n:
            c = int(b[8][M_TOMOVE])
            mode = mode_a if (c == 1) == a_black else mode_b
            play(b, flat_mc_move(b, playouts, mode, komi, pat_weights, rng), c)
            moves += 1
        s = float(area_score(b, komi))
        scores.append(s if a_black else -s)
        wins += (s > 0) == a_black
    return wins, scores


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="time per speed measurement")
    ap.add_argument("--sizes", default="9,19", help="board sizes, comma-separated")
    ap.add_argument("--modes", default="light,heuristic,pattern", help="playout modes to time")
    ap.add_argument("--games", type=int, default=10, help="games per quality match (0: none)")
    ap.add_argument("--match", default="heuristic:light",
                    help="quality matches as A:B mode pairs, comma-separated")
    ap.add_argument("--match-playouts", type=int, default=300, help="playouts per flat-MC move")
    args = ap.parse_args()

    sizes = [int(s) for s in args.sizes.split(",") if s]
    for n in sizes:
        if not 2 <= n <= 19:
            ap.error(f"board size must be 2..19, got {n}")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in modes:
        if m not in MODES:
            ap.error(f"unknown mode {m!r}; choose from {', '.join(MODES)}")
    pairs = []
    for pair in args.match.split(","):
        if not pair.strip():
            continue
        a, _, bb = pair.strip().partition(":")
        if a not in MODES or bb not in MODES:
            ap.error(f"bad match {pair!r}: use A:B with modes from {', '.join(MODES)}")
        pairs.append((a, bb))
    pw = default_pattern_weights()

    print(f"playout speed, one thread, {args.seconds:g} s per figure")
    print(f"{'size':>5} {'mode':>10} {'playouts/s':>11} {'moves/s':>11} {'us/move':>8} "
          f"{'moves/playout':>14}")
    for n in sizes:
        for m in modes:
            pps, mps, mpp = speed(n, MODES[m], args.seconds, pw)
            print(f"{n:>2}x{n:<2} {m:>10} {pps:>11,.0f} {mps:>11,.0f} {1e6 / mps:>8.3f} "
                  f"{mpp:>14.1f}", flush=True)

    if args.games > 0:
        print(f"\nplayout quality: flat MC, {args.match_playouts} playouts per move, 9x9, "
              f"komi 7.5, {args.games} games, colours alternating")
        for a, bb in pairs:
            t0 = time.perf_counter()
            wins, scores = play_match(MODES[a], MODES[bb], args.games, args.match_playouts, pw)
            p = wins / args.games
            half = 1.96 * math.sqrt(max(p * (1 - p), 1e-9) / args.games)
            print(f"{a} vs {bb}: {a} wins {wins}/{args.games} = {p:.0%} (+-{half:.0%}), "
                  f"mean margin {np.mean(scores):+.1f}, {time.perf_counter() - t0:.0f} s",
                  flush=True)


if __name__ == "__main__":
    main()
