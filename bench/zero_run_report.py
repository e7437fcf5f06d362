"""What a Zero run cost and what it reached, from its files alone (docs/ZERO-9x9.md is made of it).

    .venv/bin/python bench/zero_run_report.py runs/zero9 [--since-cycle C] [--cores K]

Prints a Markdown table, one row per cycle: training step, self-play games and positions so
far, hours the loop has run since the run started (wall clock less the time between a stop and
the "resuming" line of the next start; a stopped run's last unfinished cycle, which left no
line, is not counted), the gating result and the Elo of the best network
(relative to generation 0, chained through the gating matches), the resignation threshold used
and the false resignations measured. Then the totals: games, positions, steps, hours and
CPU-hours (hours times the machine's cores, the loop keeping every core busy), and where
generation 0 came from (random weights, or the network of ``--init``).

``--since-cycle C`` reports only cycles C on, its hours counted from when cycle C's self-play
began (a run resumed, or a copy of one trained on, costs only its new cycles); ``--cores K``
is the run's share of the machine when it did not have the machine to itself (say 0.5 for
one of four runs side by side on 2 cores).
"""
import argparse
import json
import os
import re
import sys
from datetime import datetime

import numpy as np


def _time(line):
    return datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S")


def running_clock(log):
    """Seconds the loop had been running at each line of ``log`` (its zero.log lines): the
    wall clock, less each gap between the last line of one start and the "resuming" line of
    the next, when the loop was not running at all."""
    clock, last = [], None
    for line in log:
        t = _time(line)
        if last is None or " resuming " in line:
            clock.append(clock[-1] if clock else 0.0)
        else:
            clock.append(clock[-1] + (t - last).total_seconds())
        last = t
    return clock


def report(run, since_cycle=0, cores=None):
    with open(os.path.join(run, "ledger.json"), encoding="utf-8") as f:
        ledger = json.load(f)
    log = open(os.path.join(run, "logs", "zero.log"), encoding="utf-8").read().splitlines()
    log = [line for line in log if re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", line)]
    clock = running_clock(log)  # seconds run by each line
    start = 0.0
    if since_cycle < 0:
        raise ValueError(f"since_cycle must not be negative ({since_cycle} given)")
    if since_cycle:
        begun = [i for i, line in enumerate(log)
                 if re.search(rf"cycle {since_cycle}: self-play", line)]
        if not begun:
            raise ValueError(f"{run}: cycle {since_cycle} has not started")
        start = clock[begun[0]]
    games_dir = os.path.join(run, "games")
    per_cycle = {}
    positions = 0
    for name in os.listdir(games_dir):
        m = re.match(r"c(\d+)-.*\.npz$", name)
        if m:
            with np.load(os.path.join(games_dir, name)) as d:
                t = len(d["z"])
            c = int(m.group(1))
            g, p = per_cycle.get(c, (0, 0))
            per_cycle[c] = (g + 1, p + t)
            if c >= since_cycle:
                positions += t
    thresholds, falses, ends = {}, {}, {}
    for i, line in enumerate(log):
        m = re.search(r"cycle (\d+): self-play .* resignation below ([0-9.]+)", line)
        if m:
            thresholds[int(m.group(1))] = float(m.group(2))
        m = re.search(r"cycle (\d+): \d+ games.*false resignations (\d+) of (\d+)", line)
        if m:
            c = int(m.group(1))
            f0, w0 = falses.get(c, (0, 0))
            falses[c] = (f0 + int(m.group(2)), w0 + int(m.group(3)))
        m = re.search(r"cycle (\d+): step \d+ vs best", line)
        if m:
            ends[int(m.group(1))] = clock[i]
    elo_by_step = {g["step"]: g["elo"] for g in ledger["generations"]}
    best_elo = 0.0
    rows = ["| cycle | step | games | positions | hours | gate (W-D-L) | promoted | best Elo | "
            "resign below | false resign |", "|---|---|---|---|---|---|---|---|---|---|"]
    games_so_far = positions_so_far = 0
    for c, gate in enumerate(ledger["gates"]):
        if gate["promoted"]:
            best_elo = elo_by_step.get(gate["candidate_step"], best_elo)
        if c < since_cycle:
            continue
        g, p = per_cycle.get(c, (0, 0))
        games_so_far += g
        positions_so_far += p
        hours = (ends[c] - start) / 3600 if c in ends else float("nan")
        fr = falses.get(c)
        rows.append(f"| {c} | {gate['candidate_step']} | {games_so_far} | {positions_so_far} | "
                    f"{hours:.2f} | {gate['wins']}-{gate['draws']}-{gate['losses']} | "
                    f"{'yes' if gate['promoted'] else 'no'} | {best_elo:+.0f} | "
                    f"{thresholds.get(c, float('nan')):.3f} | "
                    f"{'-' if not fr else f'{fr[0]} of {fr[1]}'} |")
    hours = (clock[-1] - start) / 3600
    cores = cores or os.cpu_count() or 1
    gates = ledger["gates"][since_cycle:]
    total_games = sum(g for c, (g, _) in per_cycle.items() if c >= since_cycle)
    first_step = ledger["gates"][since_cycle - 1]["candidate_step"] if since_cycle else 0
    steps = gates[-1]["candidate_step"] - first_step if gates else 0
    promotions = sum(1 for gate in gates if gate["promoted"])
    with open(os.path.join(run, "config.json"), encoding="utf-8") as f:
        init = json.load(f).get("loop", {}).get("init_from", "")
    rows.append("")
    rows.append(f"Generation 0: {'the network of ' + init if init else 'random weights'}.")
    rows.append(f"Totals{f' from cycle {since_cycle} on' if since_cycle else ''}: {total_games} "
                f"self-play games, {positions} positions, {steps} training steps, {len(gates)} "
                f"gating matches, {promotions} promotions, {hours:.2f} hours of running on "
                f"{cores:g} core{'' if cores == 1 else 's'} ({hours * cores:.1f} CPU-hours).")
    return "\n".join(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="run directory of python -m selfplay.zero")
    ap.add_argument("--since-cycle", type=int, default=0, help="report cycles C on only")
    ap.add_argument("--cores", type=float, help="the run's cores (default: this machine's)")
    args = ap.parse_args(argv)
    try:
        print(report(args.run, args.since_cycle, args.cores))
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
