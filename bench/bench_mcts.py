"""MCTS speed: simulations per second with 1 and 2 rollout threads on 9x9 and 19x19, the share
of time spent in the evaluator (playouts) versus tree work, and the memory per tree node.

Each configuration searches the empty board (komi 7.5) with a fresh tree for ``--seconds``,
after a short warm-up search that loads or compiles the kernels.

    .venv/bin/python bench/bench_mcts.py [--seconds 5] [--sizes 9 19] [--threads 1 2]
"""
import argparse
import time

from engine import mcts
from engine.game import GameState
from engine.playout import MODES
from engine.search import RolloutEvaluator, Search, SearchConfig


class TimedEvaluator:
    """Wraps an evaluator and adds up the wall time spent inside it."""

    def __init__(self, inner):
        self.inner = inner
        self.uses_value = inner.uses_value
        self.uses_rollout = inner.uses_rollout
        self.independent_samples = inner.independent_samples
        self.seconds = 0.0

    def start_search(self, batch, want_ownership):
        self.inner.start_search(batch, want_ownership)

    def ownership(self):
        return self.inner.ownership()

    def evaluate(self, batch):
        t = time.perf_counter()
        self.inner.evaluate(batch)
        self.seconds += time.perf_counter() - t


def measure(size, threads, seconds, mode, batch_size, seed=1):
    cfg = SearchConfig(threads=threads, playout_mode=mode, batch_size=batch_size, seed=seed,
                       early_stop=False)
    ev = TimedEvaluator(RolloutEvaluator(mode, threads, seed))
    state = GameState(size, komi=7.5)
    warm = Search(cfg, ev)
    warm.prepare(state, state.to_move)
    warm.run(visits=300)
    s = Search(cfg, ev)
    s.prepare(state, state.to_move)
    ev.seconds = 0.0
    t = time.perf_counter()
    sims = s.run(seconds=seconds)
    dt = time.perf_counter() - t
    st = s.stats()
    ev.inner.close()
    return sims / dt, ev.seconds / dt, st["nodes"], sims


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="search time per configuration")
    ap.add_argument("--sizes", type=int, nargs="+", default=[9, 19])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--mode", default="heuristic", choices=sorted(MODES), help="playout mode")
    ap.add_argument("--batch-size", type=int, default=SearchConfig.batch_size)
    args = ap.parse_args()
    bpn = mcts.bytes_per_node()
    print(f"tree node: {bpn} bytes ({len(mcts._PER_NODE_DTYPES)} parallel arrays)")
    print(f"playouts: {args.mode}, batch {args.batch_size}, expand threshold "
          f"{SearchConfig.expand_threshold}, {args.seconds:g} s per line")
    print(f"{'board':>6} {'threads':>7} {'sims/s':>9} {'speedup':>7} {'in evaluator':>12} "
          f"{'nodes':>9} {'tree MB':>8}")
    for n in args.sizes:
        base = None
        for th in args.threads:
            rate, share, nodes, sims = measure(n, th, args.seconds, MODES[args.mode], args.batch_size)
            base = base or rate
            print(f"{n:>4}x{n:<2}{th:>7} {rate:>9.0f} {rate / base:>6.2f}x {share:>11.0%} "
                  f"{nodes:>9} {nodes * bpn / 1e6:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
