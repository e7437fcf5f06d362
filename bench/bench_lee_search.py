"""Simulations per second of the AlphaGo Lee player's variants at a fixed time per move.

Each variant (a ``lee:`` spec as ``selfplay.match`` takes it) plays the first ``--moves`` moves
of one fixed 9x9 opening against itself through ``genmove`` with ``--seconds`` per move, after
one move of warm-up (compilation, caches). Per variant it prints simulations per second, the
network positions per second (value and policy answers), and for the asynchronous search the
share of value answers that arrived after their search had ended (dropped).

    .venv/bin/python bench/bench_lee_search.py                       # the default variants
    .venv/bin/python bench/bench_lee_search.py "lee:lam=1,no_policy" --seconds 1 --moves 8

Run it on an idle machine: the figures are wall-clock rates on the 2 threads the player uses.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from engine.board import BLACK, PASS  # noqa: E402
from engine.game import GameState  # noqa: E402
from engine.player import Budget  # noqa: E402

VARIANTS = ["lee", "lee:sync", "lee:lam=1", "lee:lam=1,sync", "lee:lam=1,no_policy",
            "lee:lam=0"]


def measure(spec, seconds, moves, threads):
    from engine.search import make_player
    kind, _, rest = spec.partition(":")
    options = dict(item.partition("=")[::2] for item in rest.split(",") if item)
    options = {k: (v if v else "true") for k, v in options.items()}
    player = make_player(kind, threads=threads, **options)
    state = GameState(9, komi=7.0)
    player.new_game(state)
    color = BLACK
    sims = 0
    wall = 0.0
    for i in range(moves + 1):
        t = time.perf_counter()
        mv = player.genmove(state, color, Budget(seconds=seconds))
        dt = time.perf_counter() - t
        if i == 0:  # warm-up move
            ev = player.search.evaluator
            nets = getattr(ev, "nets", None)
            base = (getattr(nets, "evaluated", 0), getattr(nets, "expanded", 0),
                    getattr(ev, "dropped", 0))
        else:
            sims += player.search.sims
            wall += dt
        if mv == PASS:
            break
        state.play(color, mv)
        color = 3 - color
    ev = player.search.evaluator
    nets = getattr(ev, "nets", None)
    values = getattr(nets, "evaluated", 0) - base[0]
    priors = getattr(nets, "expanded", 0) - base[1]
    dropped = getattr(ev, "dropped", 0) - base[2]
    if hasattr(ev, "close"):
        ev.close()
    return dict(spec=spec, sims_per_s=sims / wall, values_per_s=values / wall,
                priors_per_s=priors / wall, dropped=dropped / max(values + priors, 1),
                s_per_move=wall / max(moves, 1))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("variants", nargs="*", default=VARIANTS, help="lee specs (default: all)")
    ap.add_argument("--seconds", type=float, default=1.0, help="time per move")
    ap.add_argument("--moves", type=int, default=6, help="moves measured per variant")
    ap.add_argument("--threads", type=int, default=2, help="the player's threads")
    args = ap.parse_args(argv)
    print(f"{'variant':<24} {'sims/s':>8} {'values/s':>9} {'priors/s':>9} {'dropped':>8} "
          f"{'s/move':>7}")
    for spec in args.variants:
        r = measure(spec, args.seconds, args.moves, args.threads)
        print(f"{r['spec']:<24} {r['sims_per_s']:>8.0f} {r['values_per_s']:>9.0f} "
              f"{r['priors_per_s']:>9.0f} {r['dropped']:>8.1%} {r['s_per_move']:>7.2f}",
              flush=True)


if __name__ == "__main__":
    main()
