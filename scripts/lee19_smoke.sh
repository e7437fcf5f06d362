#!/usr/bin/env bash
# The whole AlphaGo Lee pipeline on 19x19, every step at toy scale, offline:
# teacher games -> shards -> SL policy -> rollout/tree policies -> RL policy -> value data ->
# value net -> the lee player answering genmove over GTP. It shows that each command works on
# 19x19 unchanged; the networks it makes are far too small and too briefly trained to play well.
#   bash scripts/lee19_smoke.sh [RUN_DIR]      (default runs/lee19; a few minutes on 2 cores)
set -euo pipefail
R=${1:-runs/lee19}
PY=${PY:-.venv/bin/python}
mkdir -p "$R"
# 1. teacher games: GNU Go against itself at low levels (fast on 19x19), random openings
$PY -m selfplay.teacher --out "$R/teacher" --size 19 --games 4 --levels 1-2 --opening-moves 2-6 \
    --referee internal --seed 7 --no-progress
# 2. shards with a held-out split (one game of four)
$PY -m nets.sgf_data "$R/teacher" --out "$R/data" --size 19 --heldout 0.25
# 3. SL policy: a tiny l3k16 network, a few steps
$PY -m nets.train_lee sl "$R/data" --run "$R/sl" --net l3k16 --steps 30 --batch 16 \
    --eval-every 15 --checkpoint-every 15 --no-progress
$PY -m nets.train_lee export "$R/sl" --out "$R/sl.pt"
# 4. rollout and tree policies (patterns harvested from the same shards)
$PY -m nets.rollout_train "$R/data" --out "$R/rollout.npz" --epochs 3
$PY -m nets.rollout_train "$R/data" --out "$R/tree.npz" --tree --epochs 3
# 5. RL policy: two iterations of 4 games against the pool
$PY -m selfplay.lee_rl train --sl "$R/sl.pt" --run "$R/rl" --iterations 2 --games 4 --pool-every 1 \
    --no-progress
RL=$(ls "$R"/rl/checkpoints/*.pt | tail -1)
# 6. value data: SL to U-1, a random move at U, RL to the end; one position per game
$PY -m selfplay.lee_value --sl "$R/sl.pt" --rl "$RL" --out "$R/value-data" --games 40 --batch 10 \
    --heldout-every 4
# 7. value net
$PY -m nets.train_lee value "$R/value-data" --run "$R/value" --net l3k16 --steps 30 --batch 8 \
    --eval-every 15 --checkpoint-every 15 --no-progress
$PY -m nets.train_lee export "$R/value" --out "$R/value.pt"
# 8. the lee player with these files answers a GUI on 19x19
printf 'boardsize 19\nclear_board\ngenmove b\ngenmove w\nquit\n' | \
    $PY -m gtp --player lee --size 19 --weights "$R/sl.pt" --value-weights "$R/value.pt" \
        --rollout-model "$R/rollout.npz" --tree-model "$R/tree.npz" --seconds 2
