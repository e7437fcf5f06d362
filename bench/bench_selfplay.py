"""Self-play speed against the network's own speed: the search overhead of batched self-play.

For each process layout, ``--reps`` times, the layout's loops (processes or lanes) each play
``--games`` games with ``selfplay.zero_selfplay`` (``--parallel`` at once), all starting
together, and then all replay, together again, the batch sizes their self-play sent to the
network as bare forward passes (``forward_throughput(..., sizes=...)``): the same network work
without the search.

- ``1x2``: one process, 2 torch threads (all the machine's cores in one process);
- ``2x1``: two processes of 1 torch thread: the layout of ``python -m selfplay.zero`` (one
  self-play worker per core);
- ``1x2-lanes``: one process with 2 lanes (``SelfPlay.run``: two loops in threads of their
  own, each with its own games and 1 torch thread): the default of
  ``python -m selfplay.zero_selfplay`` on a 2-core CPU, and the layout of the loop's gating.

Figures per run (machine totals):

- evals/s: network evaluations per second of self-play, wall clock, every cost included;
- fwd share: the part of self-play's time inside the forward passes;
- ratio: self-play evals/s over the bare replay's evals/s. The issue's "search costs <= 20%" is
  ratio >= 0.8. A lanes layout's batch sizes are replayed both ways, one pass at a time on all
  its threads and in as many threads as lanes at once, and the faster counts;
- ratio@mean: the same over bare passes at the mean batch size for 3 s (the older yardstick; the
  small batches at the end of a run count against it).

    .venv/bin/python bench/bench_selfplay.py [--reps 3] [--layouts 1x2 2x1] [--precision int8]
    .venv/bin/python bench/bench_selfplay.py --visits 128 --full-search-prob 0.25 --cheap-visits 32

The second line searches as the loop's documented runs do (docs/ZERO-9x9.md: playout-cap
randomisation, a quarter of the moves 128 visits, the others 32); the default is 200 visits
on every move. Fewer visits a move leave more of the per-move work (tree reuse, recording,
playing the move) to each evaluation.

Each loop first plays 2 warm-up games (kernels, int8 graph). The medians over the
repetitions are printed last: on a shared VM single runs move by 10-20%.
"""
import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_NET = os.path.join(ROOT, "nets", "weights", "zero-9x9-b4c32.pt")


def _worker(index, threads, lanes, args, out_dir, barrier, results):
    import torch

    from selfplay.zero_selfplay import SelfPlayConfig, _load_model, forward_throughput, run_selfplay

    torch.set_num_threads(threads)
    cfg = SelfPlayConfig(board_size=args.size, parallel_games=args.parallel,
                         precision=args.precision, seed=index, visits=args.visits,
                         full_search_prob=args.full_search_prob, cheap_visits=args.cheap_visits)
    model, _ = _load_model(args.checkpoint, cfg.board_size)
    run_selfplay(model, cfg, os.path.join(out_dir, f"warm-{index}"), 2 * lanes, lanes=lanes)
    barrier.wait()
    s = run_selfplay(model, cfg, os.path.join(out_dir, f"games-{index}"), args.games * lanes,
                     lanes=lanes)
    barrier.wait()
    replay = forward_throughput(model, cfg.board_size, 0, precision=cfg.precision,
                                sizes=s["batch_sizes"], lanes=lanes)
    barrier.wait()
    mean = forward_throughput(model, cfg.board_size, max(1, round(s["mean_batch"])),
                              precision=cfg.precision)
    results.put({"evaluations": s["evaluations"], "lane_seconds": s["seconds"] * lanes,
                 "forward_s": s["forward_s"], "forward_calls": s["forward_calls"],
                 "evals_per_s": s["evals_per_s"], "replay": replay, "mean": mean})


def run_layout(layout, args, out_dir):
    """Figures of one run of ``layout`` ("PxT": P processes of T torch threads; "PxT-lanes":
    P processes of T lanes of 1 torch thread)."""
    procs, threads = (int(x) for x in layout.removesuffix("-lanes").split("x"))
    lanes = threads if layout.endswith("-lanes") else 1
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(procs), ctx.Queue()
    ps = [ctx.Process(target=_worker, args=(i, threads, lanes, args, out_dir, barrier, results))
          for i in range(procs)]
    for p in ps:
        p.start()
    got = [results.get() for _ in ps]
    for p in ps:
        p.join()
        if p.exitcode:
            raise SystemExit(f"a {layout} process failed (exit {p.exitcode})")
    evals_s = sum(g["evals_per_s"] for g in got)
    return {
        "evals_per_s": evals_s,
        "forward_share": sum(g["forward_s"] for g in got) / sum(g["lane_seconds"] for g in got),
        "ratio": evals_s / sum(g["replay"] for g in got),
        "ratio_mean_batch": evals_s / sum(g["mean"] for g in got),
        "mean_batch": sum(g["evaluations"] for g in got) / sum(g["forward_calls"] for g in got),
    }


def _line(layout, f):
    return (f"{layout:>9} {f['evals_per_s']:8.0f} {f['forward_share']:9.3f} {f['ratio']:6.3f} "
            f"{f['ratio_mean_batch']:10.3f} {f['mean_batch']:10.1f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", default=DEFAULT_NET)
    ap.add_argument("--size", type=int, default=9)
    ap.add_argument("--games", type=int, default=32, help="games per loop (process or lane)")
    ap.add_argument("--parallel", type=int, default=32, help="games at once per loop")
    ap.add_argument("--precision", default="int8", help="fp32, bf16, int8 or auto")
    ap.add_argument("--visits", type=int, default=200, help="visits of a full search")
    ap.add_argument("--full-search-prob", type=float, default=1.0,
                    help="playout cap: share of moves with a full search (1 = every move)")
    ap.add_argument("--cheap-visits", type=int, default=32,
                    help="visits of the other moves' searches (playout cap)")
    ap.add_argument("--layouts", nargs="+", default=["1x2", "2x1", "1x2-lanes"])
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    results = {layout: [] for layout in args.layouts}
    print(f"{'layout':>9} {'evals/s':>8} {'fwd share':>9} {'ratio':>6} {'ratio@mean':>10} "
          f"{'mean batch':>10}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            for layout in args.layouts:
                f = run_layout(layout, args, os.path.join(tmp, f"{rep}-{layout}"))
                results[layout].append(f)
                print(_line(layout, f), flush=True)
    print("median")
    for layout, runs in results.items():
        print(_line(layout, {k: statistics.median(r[k] for r in runs) for k in runs[0]}))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    sys.exit(main())
