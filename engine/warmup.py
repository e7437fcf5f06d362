"""Compile and cache every jitted kernel once, so a GUI's first launch answers at once.

Numba compiles on first call and, with ``cache=True``, stores the machine code beside the
sources; later processes load it in milliseconds. ``make venv`` runs this after installing:

    .venv/bin/python -m engine.warmup

It drives the real GTP engine in-process through a short game on a small board (play,
genmove, analysis, scoring, SGF), which touches the same kernels as any board size, and asks
the AlphaGo Lee player for one move on 9x9 (its planes, ladder reader and pattern rollouts).
"""
import io
import sys
import time

SCRIPT = """boardsize 7
clear_board
komi 5.5
play b D4
genmove w
genmove b
lz-analyze 10
final_score
final_status_list dead
printsgf
quit
"""


def main():
    from gtp.__main__ import main as gtp_main

    t0 = time.perf_counter()
    for player in ("mcts", "random"):
        out = io.StringIO()
        gtp_main(["--player", player, "--visits", "64", "--size", "7", "--seed", "1"],
                 stdin=io.StringIO(SCRIPT), stdout=out)
        if "?" in "".join(line[:1] for line in out.getvalue().splitlines()):
            raise SystemExit("warm-up game failed:\n" + out.getvalue())
    # the AlphaGo Lee player (features, ladders, pattern rollouts) on its shipped 9x9 files
    from nets import shipped_lee
    if all(shipped_lee(part, 9) for part in ("policy", "value", "rollout_model")):
        out = io.StringIO()
        gtp_main(["--player", "lee", "--visits", "64", "--size", "9", "--seed", "1"],
                 stdin=io.StringIO("boardsize 9\nclear_board\nplay b E5\ngenmove w\nquit\n"),
                 stdout=out)
        if "?" in "".join(line[:1] for line in out.getvalue().splitlines()):
            raise SystemExit("warm-up game of the lee player failed:\n" + out.getvalue())
    # the gymnasium environment and the slow reference are used by tests and users too
    import gymnasium
    import engine.env  # noqa: F401  (registers alphago/Go-v0)
    env = gymnasium.make("alphago/Go-v0", size=5)
    env.reset(seed=0)
    print(f"compiled kernels cached in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
