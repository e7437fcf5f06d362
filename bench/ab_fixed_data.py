"""Fixed-data A/B test: train network variants from random weights on the same self-play
games, then score them on held-out games.

    .venv/bin/python bench/ab_fixed_data.py --out runs/abfix --heldout DIR --steps S \\
        --arm NAME=GAMES_DIR:OPTIONS [--arm ...] [--seeds 1 2] [--jobs 2]

OPTIONS is a comma-separated list of ``own`` (ownership head), ``gp`` (global-pooling
biases) and ``net=b4c32`` (the default size). Each (arm, seed) gets a run directory
``OUT/NAME-sSEED`` whose ``games`` links to the arm's games and whose ``config.json`` holds
the network and the training settings (``--lr`` until 3/4 of the steps, a tenth of it after;
the other ``nets.train.TrainConfig`` defaults), and is trained by ``python -m nets.train``
(``--jobs`` runs at once, 1 torch thread each; a run that is already complete is skipped, one
cut short resumes). Then ``bench/heldout_losses.py`` scores every run's last checkpoint on
``--heldout`` and the table goes to ``OUT/heldout.json``.

Unlike two runs of the whole loop, every arm sees the same games, so what differs is only
what the variant learns from them: the self-play feedback that makes loop A/Bs noisy is left
out. Arms on different game folders (playout cap on and off, made in equal self-play time)
compare what the same CPU time of self-play teaches.
"""
import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from nets.resnet import NetConfig  # noqa: E402
from nets.train import TrainConfig, list_checkpoints  # noqa: E402


def parse_arm(text):
    """NAME=GAMES_DIR:OPTIONS -> (name, games_dir, NetConfig options)."""
    name, _, rest = text.partition("=")
    games, _, opts = rest.partition(":")
    if not name or not games:
        raise SystemExit(f"--arm {text!r}: want NAME=GAMES_DIR[:OPTIONS]")
    net, flags = "b4c32", {"ownership": False, "global_pooling": False}
    for o in filter(None, opts.split(",")):
        if o == "own":
            flags["ownership"] = True
        elif o == "gp":
            flags["global_pooling"] = True
        elif o.startswith("net="):
            net = o[4:]
        else:
            raise SystemExit(f"--arm {text!r}: unknown option {o!r}")
    return name, os.path.abspath(games), net, flags


def setup_run(run, games, net, flags, size, steps, lr, seed):
    os.makedirs(run, exist_ok=True)
    link = os.path.join(run, "games")
    if not os.path.islink(link):
        os.symlink(games, link)
    net_cfg = NetConfig.from_name(net, board_size=size, **flags)
    train = TrainConfig(lr_boundaries=(steps * 3 // 4,), lr_values=(lr, lr / 10),
                        steps_per_generation=max(1, steps // 4), window_games=10 ** 6,
                        seed=seed)
    cfg = {"net": net_cfg.to_dict(), "train": train.to_dict()}
    path = os.path.join(run, "config.json")
    if os.path.exists(path):
        with open(path) as f:
            if json.load(f) != cfg:
                raise SystemExit(f"{path} holds other settings: use another --out")
    else:
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2, sort_keys=True)


def done_steps(run):
    ckpts = list_checkpoints(os.path.join(run, "checkpoints"))
    return max((s for s, _ in ckpts), default=0)


def train_run(run, steps):
    left = steps - done_steps(run)
    if left <= 0:
        return
    with open(os.path.join(run, "train.log"), "a") as log:
        subprocess.run([sys.executable, "-m", "nets.train", "--run", run, "--steps", str(left),
                        "--threads", "1", "--no-progress"], cwd=ROOT, stdout=log, stderr=log,
                       check=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--heldout", required=True, help="held-out .npz games")
    p.add_argument("--arm", action="append", required=True, help="NAME=GAMES_DIR[:own,gp,net=...]")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--size", type=int, default=9)
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args(argv)
    arms = [parse_arm(a) for a in args.arm]
    runs = []
    for seed in args.seeds:  # every arm's first seed first: a cut-short test has whole pairs
        for name, games, net, flags in arms:
            run = os.path.abspath(os.path.join(args.out, f"{name}-s{seed}"))
            setup_run(run, games, net, flags, args.size, args.steps, args.lr, seed)
            runs.append(run)
    with ThreadPoolExecutor(args.jobs) as pool:
        for f in [pool.submit(train_run, r, args.steps) for r in runs]:
            f.result()
    ckpts = [os.path.join(r, "checkpoints", f"step-{args.steps}.pt") for r in runs]
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "heldout_losses.py"),
                    "--games", args.heldout, "--size", str(args.size),
                    "--json", os.path.join(args.out, "heldout.json"), *ckpts], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
