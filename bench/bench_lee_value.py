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
better than its fast rollout policy's. Give it a folder made by ``selfplay.lee_value``: in a
``selfplay.lee_value_targets`` copy, z is the blended target.

    .venv/bin/python bench/bench_lee_value.py runs/lee9/value-data/heldout \\
        [--value nets/weights/lee-9x9-value.pt] [--rollout nets/weights/lee-9x9-rollout.npz] \\
        [--rollouts 32] [--positions 2000] [--seed 0] [--json FILE]
"""
import argparse
import json
import time

import numpy as np
import torch

from engine.playout import MODE_HEURISTIC, MODE_LIGHT
from engine.rollout_policy import load_rollout_model
from nets.train_lee import ValueData, load_value_shards
from selfplay.lee_value_targets import mean_outcomes

BUCKETS = (0, 15, 30, 45, 60, 10_000)  # move-number buckets of the table


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
        mean_outcomes(gs, games[:2], move_idx[:2], 1, args.seed, **kw)  # compile
        t = time.perf_counter()
        predictions[label] = mean_outcomes(gs, games, move_idx, args.rollouts, args.seed, **kw)
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
