#!/bin/bash
# paired matches: arm X seed K against arm Y seed K, two matches at a time
cd "$(dirname "$0")/../../.." && mkdir -p runs/abfix  # the repository root
R=runs/abfix/runs; S=${S:-3000}; V=${V:-200}; G=${G:-20}
spec() { echo "zero:weights=$R/$1/checkpoints/step-$S.pt,visits=$V,threads=1,name=$1"; }
one() {
  a=$1; b=$2; out=${M:-runs/abfix/match}/$a--$b
  mkdir -p $out
  .venv/bin/python -m selfplay.match "$(spec $a)" "$(spec $b)" --games $G --size 9 --komi 7 \
     --opening-moves 2 --seed ${MS:-5} --referee gnugo --sgf-dir $out/sgf --out $out/summary.json --no-progress > $out/log.txt 2>&1
}
one capon-own-gp-s1 capon-noown-gp-s1 & one capon-own-gp-s1 capon-own-nogp-s1 & wait
one capon-own-gp-s1 capoff-own-gp-s1 & one capon-own-gp-s2 capon-noown-gp-s2 & wait
one capon-own-gp-s2 capon-own-nogp-s2 & one capon-own-gp-s2 capoff-own-gp-s2 & wait
echo done
