"""What a Zero run cost and what it reached, from its files alone (docs/ZERO-9x9.md is made of it).

    .venv/bin/python bench/zero_run_report.py runs/zero9

Prints a Markdown table, one row per cycle: training step, self-play games and positions so
far, wall-clock hours since the run started, the gating result and the Elo of the best network
(relative to generation 0, chained through the gating matches), the resignation threshold used
and the false resignations measured. Then the totals: games, positions, steps, hours and
CPU-hours (hours times the machine's cores, the loop keeping every core busy), and where
generation 0 came from (random weights, or the network of ``--init``).
"""
import json
import os
import re
import sys
from datetime import datetime

import numpy as np


def _time(line):
    return datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S")


def report(run):
    with open(os.path.join(run, "ledger.json"), encoding="utf-8") as f:
        ledger = json.load(f)
    log = open(os.path.join(run, "logs", "zero.log"), encoding="utf-8").read().splitlines()
    start = _time(log[0])
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
            positions += t
    thresholds, falses, ends = {}, {}, {}
    for line in log:
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
            ends[int(m.group(1))] = _time(line)
    elo_by_step = {g["step"]: g["elo"] for g in ledger["generations"]}
    best_elo = 0.0
    rows = ["| cycle | step | games | positions | hours | gate (W-D-L) | promoted | best Elo | "
            "resign below | false resign |", "|---|---|---|---|---|---|---|---|---|---|"]
    games_so_far = positions_so_far = 0
    for c, gate in enumerate(ledger["gates"]):
        g, p = per_cycle.get(c, (0, 0))
        games_so_far += g
        positions_so_far += p
        if gate["promoted"]:
            best_elo = elo_by_step.get(gate["candidate_step"], best_elo)
        hours = (ends[c] - start).total_seconds() / 3600 if c in ends else float("nan")
        fr = falses.get(c)
        rows.append(f"| {c} | {gate['candidate_step']} | {games_so_far} | {positions_so_far} | "
                    f"{hours:.2f} | {gate['wins']}-{gate['draws']}-{gate['losses']} | "
                    f"{'yes' if gate['promoted'] else 'no'} | {best_elo:+.0f} | "
                    f"{thresholds.get(c, float('nan')):.3f} | "
                    f"{'-' if not fr else f'{fr[0]} of {fr[1]}'} |")
    hours = (_time(log[-1]) - start).total_seconds() / 3600
    cores = os.cpu_count() or 1
    total_games = sum(g for g, _ in per_cycle.values())
    steps = ledger["gates"][-1]["candidate_step"] if ledger["gates"] else 0
    with open(os.path.join(run, "config.json"), encoding="utf-8") as f:
        init = json.load(f).get("loop", {}).get("init_from", "")
    rows.append("")
    rows.append(f"Generation 0: {'the network of ' + init if init else 'random weights'}.")
    rows.append(f"Totals: {total_games} self-play games, {positions} positions, {steps} training "
                f"steps, {len(ledger['gates'])} gating matches, {len(ledger['generations']) - 1} "
                f"promotions, {hours:.2f} hours wall clock on {cores} cores "
                f"({hours * cores:.1f} CPU-hours).")
    return "\n".join(rows)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: zero_run_report.py RUN_DIR")
    print(report(sys.argv[1]))
