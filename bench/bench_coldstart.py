"""Cold start: seconds from launching the GTP engine to the answer of its first `genmove`.

Runs the engine as a GUI would (a fresh process each time) and reports each run; the first
run after a code change includes Numba compilation, later runs load the compiled cache.

    .venv/bin/python bench/bench_coldstart.py --runs 3 --size 9 --visits 200
"""
import argparse
import subprocess
import sys
import time


def one_run(args):
    cmd = [sys.executable, "-m", "gtp", "--player", args.player, "--visits", str(args.visits),
           "--size", str(args.size)]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    p.stdin.write(f"boardsize {args.size}\nclear_board\ngenmove b\n")
    p.stdin.flush()
    answers = 0
    move = None
    while answers < 3:
        line = p.stdout.readline()
        if not line:
            raise RuntimeError("engine exited early")
        if line.startswith("="):
            answers += 1
            move = line[1:].strip()
        elif line.startswith("?"):
            raise RuntimeError(line)
    dt = time.perf_counter() - t0
    p.stdin.write("quit\n")
    p.stdin.flush()
    p.wait(timeout=30)
    return dt, move


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size", type=int, default=9)
    ap.add_argument("--visits", type=int, default=200)
    ap.add_argument("--player", default="mcts")
    args = ap.parse_args()
    for i in range(args.runs):
        dt, move = one_run(args)
        print(f"run {i + 1}: genmove answered ({move}) {dt:.2f} s after launch")


if __name__ == "__main__":
    main()
