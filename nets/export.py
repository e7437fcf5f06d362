"""Export a network of a Zero run for play: weights and config only, with where it came from.

    python -m nets.export runs/zero9 [--checkpoint checkpoints/best.pt] --out nets/weights/zero-9x9-b4c32.pt

The exported checkpoint drops the optimizer state (a third of a training checkpoint's size and
of no use to a player) and stores in ``extra`` what a user wants to know about the network:
the run's configuration, the training step, the number of self-play games and the gating
ledger (generations with their Elo). ``python -m gtp --weights FILE`` and the shipped networks
of ``nets.SHIPPED`` are read with the same ``nets.checkpoint.load_checkpoint``.
"""
import argparse
import json
import os
import sys

from nets.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def run_summary(run_dir):
    """Plain-data description of a Zero run: config, games, generations (JSON-compatible)."""
    out = {}
    cfg_path = os.path.join(run_dir, "config.json")
    if os.path.exists(cfg_path):
        with open(cfg_path, encoding="utf-8") as f:
            out["config_json"] = f.read()
    games = os.path.join(run_dir, "games")
    if os.path.isdir(games):
        out["selfplay_games"] = sum(f.endswith(".npz") for f in os.listdir(games))
    ledger = os.path.join(run_dir, "ledger.json")
    if os.path.exists(ledger):
        with open(ledger, encoding="utf-8") as f:
            out["ledger_json"] = f.read()
    return out


def export(run_dir, checkpoint, out_path):
    """Write the playing checkpoint; returns (network config, step)."""
    model, config, step, _ = load_checkpoint(checkpoint)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    save_checkpoint(out_path, model, config, step, extra=run_summary(run_dir))
    return config, step


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m nets.export", description=__doc__.split("\n")[0])
    ap.add_argument("run", help="run directory of python -m selfplay.zero")
    ap.add_argument("--checkpoint", default="checkpoints/best.pt",
                    help="checkpoint inside the run (default: %(default)s)")
    ap.add_argument("--out", required=True, help="file to write")
    args = ap.parse_args(argv)
    src = os.path.join(args.run, args.checkpoint)
    try:
        config, step = export(args.run, src, args.out)
    except (CheckpointError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"out": args.out, "net": config.name, "board_size": config.board_size,
                      "step": step, "bytes": os.path.getsize(args.out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
