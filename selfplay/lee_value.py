"""AlphaGo Lee's value-net data: one position per game, from games that are SL policy, then one
random move, then RL policy to the end.

    python -m selfplay.lee_value --sl SL.pt --rl RL.pt --out runs/lee9/value-data --games 20000

Each game draws a time step U uniformly from 1..``max_u`` (paper: 1..450; here N*N by default
because small-board games are short). Moves 1..U-1 are sampled from the SL policy, move U is a
uniformly random sensible move, and the RL policy plays on to the end (both sides, sampling at
temperature 1). The training sample is the position after move U, with the outcome z for the
player to move there. A game that ends before move U gives no sample and is dropped. One
position per game is the paper's cure for the value net memorising whole games.

Output: shards of ``nets.train_lee``'s value format (the games in the shard format plus the
sample's move index and z) under OUT/train and OUT/heldout (``--heldout`` of the shards, chosen
by shard number), each written atomically, one per ``--batch`` games. Running the command again
with the same OUT continues after the shards already there.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

from selfplay.lee_games import PolicyGames, play_out
from selfplay.lee_rl import pick_device


def value_batch(sl, rl, n, count, komi, max_u, seed, device="cpu"):
    """Play ``count`` games of the value-data recipe; returns (GameSet of the kept games,
    sample_idx int64[K], z float32[K])."""
    rng = np.random.default_rng(seed)
    u = rng.integers(1, max_u + 1, size=count)  # the random move is move U (1-based)
    games = PolicyGames(n, count, komi, seed=seed)

    def policies(rows, colors):
        t = games.length[rows]  # moves already played = index of the move to choose now
        return [(t < u[rows] - 1, sl), (t == u[rows] - 1, None), (t >= u[rows], rl)]

    play_out(games, policies, 1.0, device)
    keep = np.flatnonzero(games.length > u)  # a move after U exists: the game reached s_{U+1}
    gs = games.to_gameset([f"value-{seed}-{i}" for i in range(count)])
    winners = gs.winner
    sample_idx = u.astype(np.int64)  # position before move index U (0-based) = after move U
    # colour to move at the sample: the colour that played move index U
    mover = np.array([games.colors[i, u[i]] if games.length[i] > u[i] else 0
                      for i in range(count)], dtype=np.int8)
    z = np.where(winners == 0, 0.0, np.where(winners == mover, 1.0, -1.0)).astype(np.float32)
    return gs.subset(keep), sample_idx[keep], z[keep]


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m selfplay.lee_value",
                                description="Generate AlphaGo Lee value-net training positions")
    p.add_argument("--sl", required=True, help="SL policy checkpoint (moves before U)")
    p.add_argument("--rl", required=True, help="RL policy checkpoint (moves after U)")
    p.add_argument("--out", required=True, help="output directory (train/ and heldout/ shards)")
    p.add_argument("--games", type=int, default=20000, help="games to play in all (default 20000)")
    p.add_argument("--batch", type=int, default=500, help="games per shard (default 500)")
    p.add_argument("--max-u", type=int, default=None, help="largest U (default N*N)")
    p.add_argument("--komi", type=float, default=7.0)
    p.add_argument("--heldout-every", type=int, default=20,
                   help="every K-th shard goes to heldout/ (default 20: 5%%)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)

    from nets.lee import load_policy
    from nets.train_lee import save_value_shard
    device = pick_device(args.device)
    sl, cs = load_policy(args.sl, device=device)
    rl, cr = load_policy(args.rl, device=device)
    if cs.board_size != cr.board_size:
        raise SystemExit(f"board sizes differ: SL {cs.board_size}, RL {cr.board_size}")
    n = cs.board_size
    max_u = args.max_u or n * n
    for sub in ("train", "heldout"):
        os.makedirs(os.path.join(args.out, sub), exist_ok=True)
    shards = args.games // args.batch + (1 if args.games % args.batch else 0)
    kept_total = 0
    t0 = time.time()
    for k in range(shards):
        sub = "heldout" if (k + 1) % args.heldout_every == 0 else "train"
        path = os.path.join(args.out, sub, f"shard-{k:05d}.npz")
        if os.path.exists(path):
            continue
        count = min(args.batch, args.games - k * args.batch)
        gs, idx, z = value_batch(sl, rl, n, count, args.komi, max_u,
                                 args.seed * 1000003 + k, device)
        save_value_shard(path, gs, idx, z)
        kept_total += len(z)
        rate = (k + 1) * args.batch / max(time.time() - t0, 1e-9)
        print(f"shard {k + 1}/{shards}: {len(z)}/{count} positions kept -> {path} "
              f"({rate:.1f} games/s)", flush=True)
    with open(os.path.join(args.out, "config.json"), "w", encoding="utf-8") as f:
        json.dump({**vars(args), "max_u": max_u, "size": n}, f, indent=2)
    print(f"done: {kept_total} new positions in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
