"""Where a match's games ended on a pass that Tromp-Taylor and the referee count differently.

    .venv/bin/python bench/match_pass_check.py MATCH_DIR [MATCH_DIR ...] [--gnugo PATH]

MATCH_DIR holds a match's ``summary.json`` and ``game-NNNN.sgf`` files (``selfplay.match
--sgf-dir D --out D/summary.json``, or ``--out D.json`` beside the directory). Player A is the
one examined. Two tables:

1. Games A did not win that were scored (not resigned) where A wins the final board by
   Tromp-Taylor: the referee, removing dead stones, counted otherwise.
2. The first time in each game that A played on after the opponent's pass while a pass of its
   own would have won by Tromp-Taylor (a player that counts dead stones before passing does;
   the engine's players pass there, docs/LEE-9x9.md §7 says why), with GNU Go's
   ``final_score`` of that position (Chinese rules, as the match referee): the result had A
   passed there, beside the game's real result.

Needs GNU Go (Debian: ``apt-get install gnugo``, /usr/games/gnugo).
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from engine.board import BLACK, PASS, WHITE  # noqa: E402
from engine.sgf import load_sgf  # noqa: E402


def _summary(d):
    for path in (os.path.join(d, "summary.json"), d.rstrip("/") + ".json"):
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
    raise SystemExit(f"{d}: no summary.json inside it and no {d.rstrip('/')}.json beside it")


def _gnugo_score(gnugo, sgf, move, komi):
    """GNU Go's final_score of the position before ``move`` (1-based) of ``sgf``, under the
    Chinese (area) rules the match referee uses."""
    out = subprocess.run([gnugo, "--mode", "gtp", "--chinese-rules", "--komi", str(komi)],
                         input=f"loadsgf {sgf} {move}\nfinal_score\n", capture_output=True,
                         text=True, timeout=600).stdout
    answers = [line[2:].strip() for line in out.splitlines() if line.startswith("= ")]
    return answers[-1] if answers else "?"


def _wins(score, color):
    return score > 0 if color == BLACK else score < 0


def check(d, gnugo):
    s = _summary(d)
    komi = s["settings"].get("komi", 7.0) if isinstance(s.get("settings"), dict) else 7.0
    mismatches, triggers = [], []
    for g in s["game_records"]:
        sgf = os.path.join(d, "game-%04d.sgf" % (g["index"] + 1))
        final = load_sgf(sgf)
        a = BLACK if g["black"] == "A" else WHITE
        tag = "BW"[a - 1]
        if g["reason"] == "score" and g["winner"] != "A" and _wins(final.score(), a):
            mismatches.append((g["index"] + 1, tag, final.score(), g["result"]))
        h = final.history
        for i in range(1, len(h)):
            if (h[i - 1].point == PASS and h[i - 1].color != a and h[i].color == a
                    and h[i].point != PASS):
                before = load_sgf(sgf, move_number=i + 1)
                if _wins(before.score(), a):
                    triggers.append((g["index"] + 1, tag, i + 1, before.score(),
                                     _gnugo_score(gnugo, sgf, i + 1, komi), g["result"]))
                    break
    print(f"## {d}\n")
    print("Games A did not win, scored, that A wins by Tromp-Taylor on the final board:\n")
    print("| game | A | Tromp-Taylor (black's view) | result |\n|---|---|---|---|")
    for row in mismatches:
        print("| %d | %s | %+g | %s |" % row)
    print(f"\n{len(mismatches)} of {sum(g['winner'] != 'A' for g in s['game_records'])} games "
          "A did not win.\n")
    print("A played on after the opponent's pass where its own pass won by Tromp-Taylor:\n")
    print("| game | A | move | Tromp-Taylor | GNU Go had A passed | result |\n"
          "|---|---|---|---|---|---|")
    for row in triggers:
        print("| %d | %s | %d | %+g | %s | %s |" % row)
    print()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dirs", nargs="+", metavar="MATCH_DIR")
    p.add_argument("--gnugo", default="/usr/games/gnugo", help="GNU Go binary (the referee)")
    args = p.parse_args(argv)
    if not os.path.exists(args.gnugo):
        raise SystemExit(f"{args.gnugo}: not found (apt-get install gnugo)")
    for d in args.dirs:
        check(d, args.gnugo)


if __name__ == "__main__":
    main()
