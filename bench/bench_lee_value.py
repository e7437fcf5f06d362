"""How well the Lee value net predicts game outcomes, against Monte-Carlo rollouts on the
same positions (AlphaGo 2016, Figure 2b).

For every position of a value-net data folder (``selfplay.lee_value`` shards; the held-out
ones by default) this prints the mean squared error against the game's outcome z (+1 / -1
for the player to move) of

- the value net's output v (one forward pass);
- the mean outcome of K rollouts with the rollout policy (``engine.rollout_policy``);
- the mean outcome of K playouts of pure MCTS (``engine.playout`` heuristic mode) and of K
  uniformly random playouts (light mode), as yardsticks;

overall and by move number. An MSE of 1 means no information (z is +-1); the paper's value
net reached 0.234 held out on 19x19, about as good as 100 rollouts of its RL policy, and
better than its fast rollout policy's.

    .venv/bin/python bench/bench_lee_value.py runs/lee9/value-data/heldout \\
        [--value nets/weights/lee-9x9-value.pt] [--rollout nets/weights/lee-9x9-rollout.npz] \\
        [--rollouts 32] [--positions 2000] [--seed 0] [--json FILE]
"""
import argparse
import json
import time

import numpy as np
import torch
from numba import njit

from engine.board import BLACK, copy_into, new_board
from engine.playout import MODE_HEURISTIC, MODE_LIGHT, run_playout
from engine.rng import new_rng
from engine.rollout_policy import load_rollout_model, policy_playout, rollout_scratch
from nets.sgf_data import replay_into
from nets.train_lee import ValueData, load_value_shards

BUCKETS = (0, 15, 30, 45, 60, 10_000)  # move-number buckets of the table


# Not cached on purpose: numba's cache would keep a stale copy of the callees after
# engine/ changes.
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


def value_predictions(path, data, games, move_idx, batch=256):
    """The value net's v (player to move) of each sampled position."""
    from nets.lee import load_value
    model, _config = load_value(path)
    model.eval()
    out = []
    with torch.inference_mode():
        for lo in range(0, len(games), batch):
            g, i = games[lo:lo + batch], move_idx[lo:lo + batch]
            planes, _z = data.batch(g, i, np.zeros(len(g), np.int64))  # [B, 49, N, N]
            out.append(model(torch.from_numpy(planes)).reshape(-1).numpy())
    return np.concatenate(out)


def rollout_predictions(gs, games, move_idx, k, seed, model=None, mode=None):
    """Mean rollout outcome (player to move) of each sampled position, k playouts each: with
    the rollout policy ``model`` or with ``engine.playout`` mode ``mode``."""
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


def table(z, move_idx, predictions):
    """Rows of (label, positions, MSE per predictor) overall and per move bucket."""
    rows = [("all", len(z), {k: float(np.mean((p - z) ** 2)) for k, p in predictions.items()})]
    for lo, hi in zip(BUCKETS[:-1], BUCKETS[1:]):
        sel = (move_idx >= lo) & (move_idx < hi)
        if sel.any():
            label = f"moves {lo}-{hi - 1}" if hi < 10_000 else f"moves {lo}+"
            rows.append((label, int(sel.sum()),
                         {k: float(np.mean((p[sel] - z[sel]) ** 2)) for k, p in predictions.items()}))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", help="value-net shards (a folder such as value-data/heldout)")
    p.add_argument("--value", default=None, help="value net (default: the shipped one)")
    p.add_argument("--rollout", default=None, help="rollout policy (default: the shipped one)")
    p.add_argument("--rollouts", type=int, default=32, help="playouts per position (default 32)")
    p.add_argument("--positions", type=int, default=2000, help="positions at most (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args(argv)
    torch.set_num_threads(1)

    gs, sample_idx, z = load_value_shards(args.data)
    data = ValueData(gs, sample_idx, z)
    games = np.arange(len(z), dtype=np.int64)
    if len(games) > args.positions:
        games = np.sort(np.random.default_rng(args.seed).choice(len(z), args.positions,
                                                                replace=False))
    move_idx, zz = sample_idx[games], z[games].astype(np.float64)
    n = int(gs.size)
    if args.value is None or args.rollout is None:
        from nets import shipped_lee
    value_path = args.value or shipped_lee("value", n)
    rollout_path = args.rollout or shipped_lee("rollout_model", n)

    predictions, seconds = {}, {}
    t = time.perf_counter()
    predictions["value net"] = value_predictions(value_path, data, games, move_idx)
    seconds["value net"] = time.perf_counter() - t
    model = load_rollout_model(rollout_path)
    for label, kw in ((f"rollout policy x{args.rollouts}", {"model": model}),
                      (f"MCTS playouts x{args.rollouts}", {"mode": MODE_HEURISTIC}),
                      (f"random playouts x{args.rollouts}", {"mode": MODE_LIGHT})):
        rollout_predictions(gs, games[:2], move_idx[:2], 1, args.seed, **kw)  # compile
        t = time.perf_counter()
        predictions[label] = rollout_predictions(gs, games, move_idx, args.rollouts, args.seed,
                                                 **kw)
        seconds[label] = time.perf_counter() - t

    rows = table(zz, move_idx, predictions)
    labels = list(predictions)
    print(f"{len(games)} positions of {args.data} ({n}x{n}); value net {value_path}, "
          f"rollout policy {rollout_path}")
    print("MSE against the outcome z (1 = no information):")
    print("| positions | count | " + " | ".join(labels) + " |")
    print("|---|---|" + "---|" * len(labels))
    for label, count, mse in rows:
        print(f"| {label} | {count} | " + " | ".join(f"{mse[k]:.3f}" for k in labels) + " |")
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"data": args.data, "positions": len(games), "value": value_path,
                       "rollout": rollout_path, "rollouts": args.rollouts,
                       "rows": [{"label": a, "count": c, "mse": m} for a, c, m in rows],
                       "seconds": seconds}, f, indent=2)


if __name__ == "__main__":
    main()
