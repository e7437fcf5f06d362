"""Losses of networks on held-out self-play games: the yardstick of fixed-data A/B tests.

    .venv/bin/python bench/heldout_losses.py --games DIR CKPT [CKPT ...] [--json OUT]

Every position of the games in DIR (``selfplay.zero_selfplay`` .npz files) is scored once, in
its recorded orientation, by each checkpoint in eval mode, as ``nets.train`` scores a batch:

- value: mean (z - v)^2 over all positions (z the game's outcome for the side to move; 1.0 is
  what a constant 0 prediction scores on decisive games);
- policy: mean cross-entropy -pi . log p and top-1 agreement with the search's most visited
  move, over the positions whose pi came from a full search;
- ownership: mean squared error against the final owner, for networks with the head.

One line per checkpoint (and a JSON list with ``--json``). Lower losses on the same games mean
the network learned more of what the search and the outcomes teach; the A/B tests in
docs/ZERO-9x9.md pair these with matches.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from nets.checkpoint import load_checkpoint  # noqa: E402
from nets.replay import ReplayWindow  # noqa: E402
from nets.train import compute_losses  # noqa: E402


def heldout_losses(model, replay, chunk=1024):
    """Position-weighted losses of ``model`` over every position of ``replay``."""
    sums = {"value_loss": 0.0, "policy_loss": 0.0, "policy_acc": 0.0, "ownership_loss": 0.0}
    rows_all = np.arange(replay.positions, dtype=np.int64)
    policy_rows = 0.0
    model.eval()
    with torch.no_grad():
        for s in range(0, len(rows_all), chunk):
            rows = rows_all[s:s + chunk]
            b = replay.sample(len(rows), None, rows=rows, symmetries=np.zeros(len(rows), np.int64))
            t = [torch.from_numpy(np.ascontiguousarray(a)) for a in
                 (b.planes, b.policy, b.z, b.policy_mask, b.ownership)]
            _, m = compute_losses(model, *t)
            used = m["policy_rows"]
            sums["value_loss"] += m["value_loss"] * len(rows)
            sums["policy_loss"] += m["policy_loss"] * used
            sums["policy_acc"] += m["policy_acc"] * used
            sums["ownership_loss"] += m.get("ownership_loss", float("nan")) * len(rows)
            policy_rows += used
    n = replay.positions
    return {"positions": n, "policy_positions": int(policy_rows),
            "value_loss": sums["value_loss"] / n,
            "policy_loss": sums["policy_loss"] / max(policy_rows, 1.0),
            "policy_acc": sums["policy_acc"] / max(policy_rows, 1.0),
            "ownership_loss": sums["ownership_loss"] / n}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--games", required=True, help="folder of held-out .npz games")
    p.add_argument("--size", type=int, default=9)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", help="also write the results here")
    p.add_argument("checkpoints", nargs="+")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    replay = ReplayWindow(args.games, 10 ** 9, args.size)
    replay.refresh()
    if replay.positions == 0:
        raise SystemExit(f"{args.games}: no readable games")
    print(f"{len(replay.games)} games, {replay.positions} positions", file=sys.stderr)
    out = []
    for path in args.checkpoints:
        model, config, step, _ = load_checkpoint(path, args.size)
        r = {"checkpoint": path, "net": config.name, "ownership": config.ownership,
             "global_pooling": config.global_pooling, "step": step,
             **heldout_losses(model, replay)}
        out.append(r)
        print(f"{path}  step {step}  value {r['value_loss']:.4f}  policy {r['policy_loss']:.4f}"
              f"  top-1 {r['policy_acc']:.3f}  ownership {r['ownership_loss']:.4f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
