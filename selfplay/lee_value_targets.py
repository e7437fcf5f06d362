"""Rollout-averaged targets for AlphaGo Lee value-net data.

    python -m selfplay.lee_value_targets runs/lee9v/value-data runs/lee9v/value-data-r32 \\
        --rollouts 32 --mix 1.0 [--rollout-model M.npz] [--workers 2] [--seed 0]

The paper trains the value net on the outcome z (+1 / -1 for the player to move) of one game
of the RL policy from each position (``selfplay.lee_value``): an unbiased label, but a noisy
one in the middle game. Whether that noise is what limits the net is a question this command
answers: it copies a value-data folder (``train/`` and ``heldout/`` shards) with the target of
every position replaced by

    t = (1 - mix) * z + mix * r,    r = mean outcome (player to move) of K rollouts from it,

so ``mix`` 0 keeps the paper's target and 1 trains the net to predict what K rollouts would
say. (On the shipped 9x9 data the answer was no: a net fitted to 32-rollout means predicted z
no better than one trained on z, ``docs/LEE-9x9.md`` §5.) The game's own outcome stays in each
shard as ``z_game`` and r as ``rollout_mean``; measure a net against z on the source folder
(``bench/bench_lee_value.py`` reads ``z``, the blend, from a copy). Shards are written
atomically one at a time, named as in the source folder; running the command again skips the
shards already written. Each shard's rollouts are seeded by (``--seed``, shard name), so the
result does not depend on ``--workers``.

``mean_outcomes`` is the Monte-Carlo estimate this module and the benchmark share.
"""
import argparse
import json
import os
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from numba import njit

from engine.board import BLACK, copy_into, new_board
from engine.rng import new_rng


# Not cached on purpose: it takes a jitted playout function as an argument, and numba's cache
# would keep a stale copy of the callee after engine/ changes.
@njit
def _mean_outcome(b, b0, k, playout, args):
    """Mean outcome for black (+1 win, -1 loss, 0 jigo) of k playouts from copies of b0:
    ``playout(b, *args)``, a jitted playout returning the final score (black's view)."""
    total = 0.0
    for _ in range(k):
        copy_into(b, b0)
        s = playout(b, *args)
        total += 1.0 if s > 0 else (-1.0 if s < 0 else 0.0)
    return total / k


def mean_outcomes(gs, games, move_idx, k, seed, model=None, mode=None):
    """float64[len(games)]: the mean outcome for the player to move of k playouts from each
    position (game ``games[i]`` before its move ``move_idx[i]``), with the rollout policy
    ``model`` (``engine.rollout_policy.RolloutModel``) or with ``engine.playout`` mode
    ``mode``; komi is each game's own."""
    from engine.playout import run_playout
    from engine.rollout_policy import policy_playout, rollout_scratch
    from nets.sgf_data import replay_into
    n = int(gs.size)
    b0, b = new_board(n), new_board(n)
    rng = new_rng(seed)
    arrays = model.arrays if model is not None else None
    scr = rollout_scratch(n) if model is not None else None
    pw = np.ones(1, dtype=np.float32)
    out = np.zeros(len(games))
    for row, (g, i) in enumerate(zip(games, move_idx)):
        lo, hi = gs.offsets[g], gs.offsets[g + 1]
        slo, shi = gs.setup_offsets[g], gs.setup_offsets[g + 1]
        replay_into(b0, gs.setup_points[slo:shi], gs.setup_colors[slo:shi], gs.moves[lo:hi],
                    gs.colors[lo:hi], int(i))
        komi = float(gs.komi[g])
        if model is not None:
            black = _mean_outcome(b, b0, k, policy_playout, (rng, komi, arrays, scr))
        else:
            black = _mean_outcome(b, b0, k, run_playout, (rng, mode, komi, pw))
        to_move = gs.colors[lo + i] if i < hi - lo else BLACK
        out[row] = black if to_move == BLACK else -black
    return out


def blend(z, r, mix):
    """float32 target ``(1 - mix) * z + mix * r`` (both for the player to move)."""
    if not 0.0 <= mix <= 1.0:
        raise ValueError(f"mix must lie in [0, 1], got {mix}")
    return ((1.0 - mix) * np.asarray(z, np.float64) + mix * np.asarray(r, np.float64)
            ).astype(np.float32)


def shard_seed(seed, name):
    """Seed of one shard's rollouts: fixed by the run's seed and the shard's file name."""
    return (int(seed) * 1_000_003 + zlib.crc32(name.encode())) % (2 ** 31)


def relabel_shard(src, dst, model_path, k, mix, seed):
    """Write ``dst``: the value shard ``src`` with blended targets (module docstring), the
    source target kept as ``z_game``. Returns (positions, MSE of r against z)."""
    from engine.rollout_policy import load_rollout_model
    from nets.train_lee import load_value_shards, save_value_shard
    gs, sample_idx, z = load_value_shards([src])
    with np.load(src, allow_pickle=False) as f:  # a relabelled source keeps its game outcome
        z_game = f["z_game"].astype(np.float32) if "z_game" in f.files else z
    model = load_rollout_model(model_path)
    if model.tree:
        raise ValueError(f"{model_path}: a tree policy, not a rollout policy")
    games = np.arange(len(z), dtype=np.int64)
    r = mean_outcomes(gs, games, sample_idx, k, shard_seed(seed, os.path.basename(src)),
                      model=model)
    save_value_shard(dst, gs, sample_idx, blend(z_game, r, mix), z_game=z_game,
                     rollout_mean=r.astype(np.float32))
    return len(z), float(np.mean((r - z_game) ** 2)) if len(z) else 0.0


def _jobs(data, out):
    from nets.sgf_data import shard_paths
    jobs = []
    for sub in ("train", "heldout"):
        folder = os.path.join(data, sub)
        if not os.path.isdir(folder):
            continue
        for src in shard_paths(folder):
            jobs.append((sub, src, os.path.join(out, sub, os.path.basename(src))))
    if not jobs:
        raise SystemExit(f"{data}: no train/ or heldout/ value shards")
    return jobs


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m selfplay.lee_value_targets",
                                description="Copy AlphaGo Lee value-net data with targets "
                                            "blended from the game outcome and rollouts")
    p.add_argument("data", help="value-data folder (train/ and heldout/ shards)")
    p.add_argument("out", help="output folder (same layout)")
    p.add_argument("--rollouts", type=int, default=32, help="rollouts per position (default 32)")
    p.add_argument("--mix", type=float, default=1.0,
                   help="weight of the rollout mean in the target, 0..1 (default 1)")
    p.add_argument("--rollout-model", default=None,
                   help="rollout policy (.npz; default the shipped one for the board size)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.rollouts < 1:
        raise SystemExit("--rollouts must be at least 1")
    if not 0.0 <= args.mix <= 1.0:
        raise SystemExit("--mix must lie in [0, 1]")
    if os.path.abspath(args.data) == os.path.abspath(args.out):
        raise SystemExit("the output folder must differ from the data folder")

    jobs = _jobs(args.data, args.out)
    model_path = args.rollout_model
    if model_path is None:
        from nets import shipped_lee
        from nets.train_lee import load_value_shards
        n = int(load_value_shards([jobs[0][1]])[0].size)
        model_path = shipped_lee("rollout_model", n)
        if model_path is None:
            raise SystemExit(f"no shipped rollout policy for {n}x{n}: give --rollout-model")
    todo = [j for j in jobs if not os.path.exists(j[2])]
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w", encoding="utf-8") as f:
        json.dump({**vars(args), "rollout_model": model_path}, f, indent=2)
    print(f"{len(jobs)} shards, {len(jobs) - len(todo)} already written; {args.rollouts} "
          f"rollouts a position, mix {args.mix:g}, {model_path}", flush=True)
    t0 = time.time()
    done = positions = 0
    sq = {"train": [0.0, 0], "heldout": [0.0, 0]}
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        futures = [(sub, dst, pool.submit(relabel_shard, src, dst, model_path, args.rollouts,
                                          args.mix, args.seed)) for sub, src, dst in todo]
        for sub, dst, fut in futures:
            count, mse = fut.result()
            done += 1
            positions += count
            sq[sub][0] += mse * count
            sq[sub][1] += count
            rate = positions / max(time.time() - t0, 1e-9)
            print(f"shard {done}/{len(todo)}: {count} positions -> {dst} ({rate:.0f} "
                  f"positions/s)", flush=True)
    for sub, (s, c) in sq.items():
        if c:
            print(f"{sub}: MSE of the rollout mean against the game outcome {s / c:.3f} "
                  f"({c} positions)")
    print(f"done: {positions} positions in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
