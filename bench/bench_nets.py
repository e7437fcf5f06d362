"""Network speed: raw batched forward throughput and MCTS visits/s with the network evaluator.

1. Forward passes of a randomly initialised network (default b6c64) in eval mode under
   ``torch.inference_mode()``, on 9x9 and 19x19, at batch sizes 1, 8, 32, 128: positions/s.
2. ``MCTSPlayer`` genmove on the empty 19x19 board with ``NetEvaluator`` (lam = 0, expansion on
   the first visit, AlphaGo Zero style): visits/s, and the share of time spent in the evaluator
   (planes + forward + softmax) and in its forward pass alone.

CPU by default with ``--threads`` torch threads (default 2); ``--device cuda`` when available.
In float32 and bf16 on the CPU both go through the evaluator's inference graph
(``nets.evaluator.inference_graph``) unless ``--eager`` asks for the eager module;
``--precision int8`` runs the int8 graph of ``nets.quantize``.
Figures depend on what else runs on the machine: report the load next to them.

    .venv/bin/python bench/bench_nets.py [--net b6c64] [--seconds 3] [--visits 800] [--precision auto]
        [--eager]
    .venv/bin/python bench/bench_nets.py --sizes 19 --batches 8 32 --precision int8
"""
import argparse
import os
import time

import torch

from engine.game import GameState
from engine.player import Budget
from engine.search import MCTSPlayer, SearchConfig
from nets.evaluator import (PRECISIONS, NetEvaluator, cpu_has_native_bf16, inference_graph,
                            resolve_precision)
from nets.features import PLANES
from nets.quantize import int8_graph
from nets.resnet import NetConfig, build_net, count_parameters


def forward_rate(net, n, batch, seconds, device, precision="fp32", graph=True):
    """Positions per second of repeated forward passes of one batch: through the evaluator's
    inference graph in float32 or bf16 on the CPU (``graph``), else the eager module (under
    bf16 autocast when asked)."""
    use_graph = graph and device.type == "cpu" and precision in ("fp32", "bf16")
    run = inference_graph(net, n, precision) if use_graph else None
    if precision == "int8":
        run = int8_graph(net, n)
    x = torch.randn(batch, PLANES, n, n, device=device)
    if run is None:
        def run(x):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                return net(x)
    with torch.inference_mode():
        for _ in range(3):
            run(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        done = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds or done == 0:
            run(x)
            done += batch
        if device.type == "cuda":
            torch.cuda.synchronize()
        return done / (time.perf_counter() - t0)


def mcts_rate(net, n, visits, batch_size, device, precision="fp32", graph=True):
    """(visits/s, evaluator share, forward share) of one genmove on the empty board."""
    ev = NetEvaluator(net, n, device=device, seed=1, precision=precision, graph=graph)
    spent = [0.0]
    inner = ev.evaluate

    def evaluate(batch):
        t = time.perf_counter()
        inner(batch)
        spent[0] += time.perf_counter() - t

    ev.evaluate = evaluate
    cfg = SearchConfig(lam=0.0, expand_threshold=1, batch_size=batch_size, early_stop=False,
                       resign_threshold=0.0, seed=1)
    player = MCTSPlayer(cfg, ev)
    g = GameState(n, komi=7.5)
    player.genmove(g, g.to_move, Budget(visits=64))  # warm-up: kernels loaded, buffers sized
    player.new_game(g)
    spent[0] = 0.0
    ev.forward_s = 0.0
    t0 = time.perf_counter()
    player.genmove(g, g.to_move, Budget(visits=visits))
    wall = time.perf_counter() - t0
    sims = player.search.sims
    return sims / wall, spent[0] / wall, ev.forward_s / wall


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--net", default="b6c64", help="network size name (b<blocks>c<channels>)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--precision", choices=PRECISIONS, default="fp32",
                    help="forward-pass arithmetic (nets.evaluator; auto: bf16 where native)")
    ap.add_argument("--eager", action="store_true",
                    help="the eager module, not the evaluator's inference graph (CPU)")
    ap.add_argument("--seconds", type=float, default=3.0, help="time per forward measurement")
    ap.add_argument("--sizes", type=int, nargs="+", default=[9, 19])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32, 128])
    ap.add_argument("--visits", type=int, default=800, help="visits of the measured genmove")
    ap.add_argument("--mcts-batch", type=int, nargs="+", default=[8, 32],
                    help="SearchConfig.batch_size values for the MCTS measurement")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    precision = resolve_precision(args.precision, device)
    graph = not args.eager and device.type == "cpu" and precision in ("fp32", "bf16")
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores, precision {precision}"
          f" (native bf16 on this CPU: {cpu_has_native_bf16()}), "
          f"{'int8 graph' if precision == 'int8' else 'inference graph' if graph else 'eager module'}")
    nets = {}
    for n in args.sizes:
        torch.manual_seed(0)
        net = build_net(NetConfig.from_name(args.net, board_size=n)).to(device).eval()
        nets[n] = net
        print(f"\n{args.net} on {n}x{n}: {count_parameters(net):,} parameters")
        for b in args.batches:
            rate = forward_rate(net, n, b, args.seconds, device, precision, not args.eager)
            print(f"  forward batch {b:4d}: {rate:9.0f} positions/s")
    n = 19 if 19 in nets else args.sizes[-1]
    print(f"\nMCTS genmove {n}x{n} {args.net}, {args.visits} visits, empty board:")
    for bs in args.mcts_batch:
        rate, ev_share, fwd_share = mcts_rate(nets[n], n, args.visits, bs, device, precision,
                                              not args.eager)
        print(f"  search batch {bs:3d}: {rate:7.0f} visits/s  (evaluator {100 * ev_share:.0f}% of "
              f"the time, forward pass {100 * fwd_share:.0f}%)")


if __name__ == "__main__":
    main()
