"""Rollout-policy speed (engine.rollout_policy): full playouts from the empty board, one
thread, after JIT warm-up.

Prints, per board size, playouts/s, microseconds per playout move and moves per playout, for
the rollout policy and, measured the same way in the same run, for light random playouts
(``engine.playout`` MODE_LIGHT) as the yardstick, and names the model used. Times are the
thread's CPU time (``time.thread_time``), so other work on a busy machine does not count;
wall-clock figures are printed too. The goal: >= 15,000 playouts/s on 9x9 and >= 4,000/s on
19x19.

    .venv/bin/python bench/bench_rollout_policy.py [--model rollout.npz] [--seconds 3]
        [--sizes 9,19]

Without --model the benchmark uses ``nets.rollout_train.tiny_model()`` (fitted to a few
scripted 9x9 games); playout speed depends little on the dictionary sizes, since lookups go
to direct tables or one hash probe per move.
"""
import argparse
import time

import numpy as np
from numba import njit

from engine.board import M_MOVES, copy_board, copy_into, new_board
from engine.playout import MODE_LIGHT, run_playout
from engine.rng import new_rng
from engine.rollout_policy import load_rollout_model, policy_playout, rollout_scratch


# Not cached on purpose: numba's cache would keep a stale copy of the callee after
# engine/rollout_policy.py changes.
@njit
def _policy_loop(b, b0, rng, k, m, scr):
    """k rollouts from b0; returns the moves played (passes included)."""
    moves = 0
    for _ in range(k):
        copy_into(b, b0)
        m0 = b[8][M_MOVES]
        policy_playout(b, rng, 7.5, m, scr)
        moves += b[8][M_MOVES] - m0
    return moves


@njit
def _light_loop(b, b0, rng, k):
    pw = np.ones(1, dtype=np.float32)
    moves = 0
    for _ in range(k):
        copy_into(b, b0)
        m0 = b[8][M_MOVES]
        run_playout(b, rng, MODE_LIGHT, 7.5, pw)
        moves += b[8][M_MOVES] - m0
    return moves


def measure(run, seconds):
    """(playouts/s CPU, playouts/s wall, us per move CPU, moves per playout)."""
    run(2)  # compile, warm caches
    playouts = moves = 0
    chunk = 20
    c0, w0 = time.thread_time(), time.perf_counter()
    while True:
        moves += run(chunk)
        playouts += chunk
        cpu, wall = time.thread_time() - c0, time.perf_counter() - w0
        if wall >= seconds:
            return playouts / cpu, playouts / wall, 1e6 * cpu / moves, moves / playouts
        if wall < seconds / 10:
            chunk *= 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="rollout policy model file (default: the tiny test model)")
    ap.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    ap.add_argument("--sizes", default="9,19", help="board sizes, comma-separated")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    for n in sizes:
        if not 2 <= n <= 19:
            ap.error(f"board size must be 2..19, got {n}")
    if args.model:
        model = load_rollout_model(args.model)
        name = args.model
    else:
        from nets.rollout_train import tiny_model
        model = tiny_model()
        name = "tiny_model() (scripted 9x9 games)"
    m = model.arrays
    print(f"model: {name}: {model.describe()}")
    print(f"one thread, {args.seconds:g} s per figure; rates from CPU time "
          "(wall-clock in brackets)")
    print(f"{'size':>5} {'playouts':>10} {'playouts/s':>20} {'us/move':>8} {'moves/playout':>14}")
    for n in sizes:
        b0 = new_board(n)
        b = copy_board(b0)
        scr = rollout_scratch(n)
        rng = new_rng(12345)
        for label, run in (("policy", lambda k: _policy_loop(b, b0, rng, k, m, scr)),
                           ("light", lambda k: _light_loop(b, b0, rng, k))):
            cpu, wall, us, mpp = measure(run, args.seconds)
            print(f"{n:>2}x{n:<2} {label:>10} {cpu:>9,.0f} ({wall:>7,.0f}) {us:>8.3f} {mpp:>14.1f}",
                  flush=True)


if __name__ == "__main__":
    main()
