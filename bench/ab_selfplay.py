"""Two checkouts' self-play side by side: the search overhead of a change, measured fairly.

On a shared VM the machine's speed drifts by 5-10% within minutes, more than most changes to
the search are worth, so runs of the old code and the new one taken one after the other
compare the drift as much as the code. Here the two run at the same time, one process per
core (pinned with ``taskset`` where there is one), each one lane of ``--games`` games with 1
torch thread; a second round swaps the cores. Per process:

- evals/s: network evaluations per second of self-play;
- forward µs: time inside the network's forward passes per evaluation (the same network work
  in both, so it shows how evenly the two were served);
- other µs: everything else per evaluation, the search's overhead;
- fwd share: forward time over wall time (the ratio of ``bench_selfplay.py`` without the
  replay).

    .venv/bin/python bench/ab_selfplay.py /path/to/old/checkout . [--visits 128
        --full-search-prob 0.25 --cheap-visits 32] [--games 96] [--rounds 2]

Each checkout runs its own code (``PYTHONPATH``) with this interpreter.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_PLAY = """
import json, sys, tempfile, torch
torch.set_num_threads(1)
from selfplay.zero_selfplay import SelfPlayConfig, _load_model, run_selfplay
a = json.loads(sys.argv[1])
cfg = SelfPlayConfig(board_size=9, parallel_games=a["parallel"], precision=a["precision"],
                     seed=a["seed"], visits=a["visits"], full_search_prob=a["full"],
                     cheap_visits=a["cheap"])
model, _ = _load_model(a["checkpoint"], 9)
run_selfplay(model, cfg, tempfile.mkdtemp(), 2)  # warm-up: kernels, int8 graph
s = run_selfplay(model, cfg, tempfile.mkdtemp(), a["games"])
ev = s["evaluations"]
print(json.dumps({"evals_s": ev / s["seconds"], "forward_us": 1e6 * s["forward_s"] / ev,
                  "wall_us": 1e6 * s["seconds"] / ev}))
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old", help="checkout of the code before the change")
    ap.add_argument("new", help="checkout of the code after it")
    ap.add_argument("--checkpoint", default=os.path.join(ROOT, "nets", "weights",
                                                         "zero-9x9-b4c32.pt"))
    ap.add_argument("--games", type=int, default=96)
    ap.add_argument("--parallel", type=int, default=32)
    ap.add_argument("--precision", default="int8")
    ap.add_argument("--visits", type=int, default=200)
    ap.add_argument("--full-search-prob", type=float, default=1.0)
    ap.add_argument("--cheap-visits", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args(argv)
    pin = shutil.which("taskset")
    print(f"{'round':>5} {'code':>4} {'evals/s':>8} {'forward µs':>10} {'other µs':>8} "
          f"{'fwd share':>9}", flush=True)
    for r in range(args.rounds):
        procs = {}
        for k, (name, path) in enumerate((("old", args.old), ("new", args.new))):
            spec = json.dumps({"parallel": args.parallel, "precision": args.precision,
                               "seed": 10 + r, "visits": args.visits,
                               "full": args.full_search_prob, "cheap": args.cheap_visits,
                               "checkpoint": os.path.abspath(args.checkpoint),
                               "games": args.games})
            cmd = [sys.executable, "-c", _PLAY, spec]
            if pin:
                cmd = [pin, "-c", str((k + r) % 2)] + cmd
            env = dict(os.environ, PYTHONPATH=os.path.abspath(path))
            procs[name] = subprocess.Popen(cmd, cwd=os.path.abspath(path), env=env,
                                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                           text=True)
        for name, p in procs.items():
            out, _ = p.communicate()
            if p.returncode:
                raise SystemExit(f"the {name} checkout's self-play failed (exit {p.returncode})")
            f = json.loads(out.strip().splitlines()[-1])
            other = f["wall_us"] - f["forward_us"]
            print(f"{r + 1:>5} {name:>4} {f['evals_s']:8.0f} {f['forward_us']:10.2f} "
                  f"{other:8.2f} {f['forward_us'] / f['wall_us']:9.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
