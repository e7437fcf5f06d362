#!/bin/bash
# fixed-data A/B: equal self-play time for the playout cap on and off, then a held-out set
cd "$(dirname "$0")/../../.." && mkdir -p runs/abfix  # the repository root
common="--checkpoint nets/weights/zero-9x9-b4c32.pt --size 9 --komi 7 --visits 128 --c-puct 1.5 --precision int8 --no-progress"
date
timeout -s INT 720 .venv/bin/python -m selfplay.zero_selfplay $common --games 100000 --full-search-prob 0.25 --cheap-visits 32 --seed 21 --out runs/abfix/data-cap > runs/abfix/gen-cap.log 2>&1
date
timeout -s INT 720 .venv/bin/python -m selfplay.zero_selfplay $common --games 100000 --seed 22 --out runs/abfix/data-full > runs/abfix/gen-full.log 2>&1
date
.venv/bin/python -m selfplay.zero_selfplay $common --games 200 --seed 23 --resign-threshold 0 --name-prefix held --out runs/abfix/data-held > runs/abfix/gen-held.log 2>&1
date
echo done
