"""Run every benchmark in bench/ with its default settings and print the figures.

    .venv/bin/python bench/run_all.py
"""
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SCRIPTS = ["bench_playouts.py", "bench_mcts.py", "bench_coldstart.py"]

for s in SCRIPTS:
    path = HERE / s
    if not path.exists():
        continue
    print(f"== {s}", flush=True)
    subprocess.run([sys.executable, str(path)], check=False)
