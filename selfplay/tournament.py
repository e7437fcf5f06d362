"""Round-robin tournaments between GTP engines, with an Elo rating per player.

    python -m selfplay.tournament run DIR --player NAME=SPEC --player NAME=SPEC ... \\
        --games-per-pair N [match settings: --size --komi --referee ...] [--import SUMMARY.json]
    python -m selfplay.tournament table DIR [--import SUMMARY.json ...] [--anchor NAME]
        [--alias OLD=NEW ...]

Playing
-------
Every pair of players meets in *rounds*: in one round each pair plays two games, one with each
colour, through ``selfplay.match.run_match`` (fresh engine processes per round; the specs are
those of ``python -m selfplay.match``). Round ``r`` is played by every pair before any pair starts
round ``r + 1``, so a tournament stopped early has the same number of games in every pair.
Each finished round is written atomically as ``DIR/rounds/I-J-RRR.json`` (a match summary);
``run`` skips the rounds already there, so a killed tournament resumes where it stopped, losing
at most the round in progress. ``DIR/tournament.json`` holds the players and settings; a resume
with other players or settings is refused, a larger ``--games-per-pair`` is a new budget.

Rating
------
The Elo of each player is the maximum-likelihood fit of the Bradley-Terry (logistic) model
``P(i beats j) = 1 / (1 + 10^((elo_j - elo_i) / 400))`` to every game, a draw counting half a
win to each side. Each pair that met gets ``prior`` virtual draws (1 by default, BayesElo-style),
so a player who lost every game still gets a finite rating. Ratings are relative to the anchor
player (Elo 0, the first player unless ``--anchor`` says otherwise); the 95% interval of each is
+-1.96 standard errors from the inverse of the log-likelihood's Hessian.

Games played elsewhere join the fit with ``--import SUMMARY.json`` (any ``selfplay.match --out``
file): their players are matched by name, so a tournament can include earlier matches against
an outside engine at the same settings. ``--alias OLD=NEW`` rates the player named OLD in any
summary as NEW: one engine imported under two names (say, GNU Go with and without an extra
flag that does not change its play) counts as one player. ``table`` rewrites ``DIR/table.json`` and
``DIR/table.md`` (the ratings and the cross-table) from what is on disk; ``run`` does so after
every round.
"""
import argparse
import itertools
import json
import math
import os
import re
import sys
from dataclasses import replace

import numpy as np

from engine import atomic
from selfplay.match import (MatchConfig, MatchError, _derive_seed, add_settings,
                            parse_player, run_match, settings_from_args, write_summary)

STATE = "tournament.json"
ROUNDS = "rounds"
ELO_PER_NAT = 400.0 / math.log(10.0)  # Elo points per unit of the logistic model's natural scale
_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")


# -- rating -------------------------------------------------------------------------------
def fit_elo(names, games, anchor=None, prior=1.0, iterations=100):
    """Maximum-likelihood Elo of each player.

    ``games``: ``{(a, b): (wins_a, draws, wins_b)}`` by player name (either order; repeated
    pairs add up). Returns ``{name: (elo, se)}`` with ``anchor`` (default ``names[0]``) at 0.
    Raises ``ValueError`` when some player is not connected to the anchor by games.
    """
    names = list(names)
    index = {n: k for k, n in enumerate(names)}
    anchor = names[0] if anchor is None else anchor
    if anchor not in index:
        raise ValueError(f"anchor {anchor!r} is not a player")
    p = len(names)
    n = np.zeros((p, p))  # n[i, j]: games between i and j (virtual draws included)
    s = np.zeros((p, p))  # s[i, j]: i's score against j
    for (a, b), (wa, d, wb) in games.items():
        i, j = index[a], index[b]
        total = wa + d + wb
        if total == 0 or i == j:
            continue
        n[i, j] += total
        n[j, i] += total
        s[i, j] += wa + 0.5 * d
        s[j, i] += wb + 0.5 * d
    met = n > 0
    n += prior * met
    s += 0.5 * prior * met
    _check_connected(names, met, index[anchor])
    free = [k for k in range(p) if k != index[anchor]]
    r = np.zeros(p)  # ratings on the natural (logistic) scale
    for _ in range(iterations):
        prob = 1.0 / (1.0 + np.exp(r[None, :] - r[:, None]))  # prob[i, j]: i beats j
        grad = (s - n * prob).sum(axis=1)
        w = n * prob * (1.0 - prob)
        hess = w - np.diag(w.sum(axis=1))  # Hessian of the log-likelihood
        step = np.linalg.solve(hess[np.ix_(free, free)], -grad[free])
        r[free] += step
        if np.max(np.abs(step)) < 1e-10:
            break
    prob = 1.0 / (1.0 + np.exp(r[None, :] - r[:, None]))
    w = n * prob * (1.0 - prob)
    hess = w - np.diag(w.sum(axis=1))
    cov = np.linalg.inv(-hess[np.ix_(free, free)]) if free else np.zeros((0, 0))
    se = np.zeros(p)
    se[free] = np.sqrt(np.diag(cov))
    return {name: (float(r[k] * ELO_PER_NAT), float(se[k] * ELO_PER_NAT))
            for k, name in enumerate(names)}


def _check_connected(names, met, start):
    seen, todo = {start}, [start]
    while todo:
        i = todo.pop()
        for j in np.flatnonzero(met[i]):
            if j not in seen:
                seen.add(int(j))
                todo.append(int(j))
    lost = [names[k] for k in range(len(names)) if k not in seen]
    if lost:
        raise ValueError(f"no games connect {', '.join(lost)} to {names[start]}: "
                         "their Elo cannot be fitted")


def pair_counts(summaries, aliases=None):
    """``{(a, b): [wins_a, draws, wins_b]}`` over match summaries, ``a < b`` by name, each
    name first mapped through ``aliases`` (``{old: new}``)."""
    aliases = aliases or {}
    counts = {}
    for summary in summaries:
        name = {who: aliases.get(summary["players"][who]["name"], summary["players"][who]["name"])
                for who in ("A", "B")}
        if name["A"] == name["B"]:
            raise ValueError(f"aliases make {name['A']!r} play itself")
        a, b = sorted(name.values())
        row = counts.setdefault((a, b), [0, 0, 0])
        for rec in summary["game_records"]:
            if rec["winner"] is None:
                row[1] += 1
            else:
                row[0 if name[rec["winner"]] == a else 2] += 1
    return counts


def rating_table(summaries, anchor=None, prior=1.0, order=None, aliases=None):
    """The ratings and cross-table of these match summaries, as a JSON-ready dict. Names in
    ``order`` and ``anchor`` may be old or new names of ``aliases``."""
    aliases = aliases or {}
    seen = {s["players"][who]["name"] for s in summaries for who in ("A", "B")}
    unused = sorted(set(aliases) - seen - set(order or []))
    if unused:
        raise ValueError(f"--alias names no player of these games: {', '.join(unused)}")
    counts = pair_counts(summaries, aliases)
    names = []
    for name in order or []:
        name = aliases.get(name, name)
        if name not in names:
            names.append(name)
    if anchor is not None:
        anchor = aliases.get(anchor, anchor)
    for a, b in counts:
        names += [x for x in (a, b) if x not in names]
    if not names:
        raise ValueError("no games to rate")
    elo = fit_elo(names, {k: tuple(v) for k, v in counts.items()}, anchor, prior)
    players = []
    for name in names:
        wins = draws = losses = 0
        for (a, b), (wa, d, wb) in counts.items():
            if name == a:
                wins, draws, losses = wins + wa, draws + d, losses + wb
            elif name == b:
                wins, draws, losses = wins + wb, draws + d, losses + wa
        games = wins + draws + losses
        players.append({"name": name, "elo": round(elo[name][0], 1),
                        "ci95": round(1.96 * elo[name][1], 1), "games": games, "wins": wins,
                        "draws": draws, "losses": losses,
                        "score": round((wins + 0.5 * draws) / games, 4) if games else None})
    players.sort(key=lambda row: -row["elo"])
    return {"anchor": anchor or names[0], "prior_draws": prior, "players": players,
            "pairs": [{"a": a, "b": b, "wins_a": wa, "draws": d, "wins_b": wb}
                      for (a, b), (wa, d, wb) in sorted(counts.items())]}


def format_table(table):
    """The table as Markdown: ratings, then the cross-table (row's wins-draws-losses)."""
    names = [row["name"] for row in table["players"]]
    lines = ["| player | Elo | 95% CI | games | W-D-L | score |", "|---|---|---|---|---|---|"]
    for row in table["players"]:
        score = "-" if row["score"] is None else f"{100 * row['score']:.1f}%"
        ci = "anchor" if row["name"] == table["anchor"] else f"±{row['ci95']:.0f}"
        lines.append(f"| {row['name']} | {row['elo']:+.0f} | {ci} | {row['games']} | "
                     f"{row['wins']}-{row['draws']}-{row['losses']} | {score} |")
    cross = {}
    for pair in table["pairs"]:
        cross[pair["a"], pair["b"]] = (pair["wins_a"], pair["draws"], pair["wins_b"])
        cross[pair["b"], pair["a"]] = (pair["wins_b"], pair["draws"], pair["wins_a"])
    lines += ["", "| row vs column | " + " | ".join(names) + " |",
              "|---" * (len(names) + 1) + "|"]
    for a in names:
        cells = ["-" if (a, b) not in cross else "{}-{}-{}".format(*cross[a, b]) for b in names]
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Elo by maximum likelihood (logistic model), anchor {table['anchor']} = 0, "
                 f"{table['prior_draws']:g} virtual draw(s) per pair that met; cells are the "
                 "row player's wins-draws-losses.")
    return "\n".join(lines) + "\n"


# -- playing ------------------------------------------------------------------------------
def parse_named(text):
    """``NAME=SPEC`` -> ``PlayerSpec`` named NAME."""
    name, eq, spec = text.partition("=")
    if not eq or not _NAME.match(name) or not spec:
        raise ValueError(f"player {text!r}: expected NAME=SPEC with NAME of letters, digits and "
                         "_.+- (e.g. lee-lam0=lee:lam=0,seconds=1)")
    return parse_player(spec, name)


def parse_aliases(texts):
    """``["OLD=NEW", ...]`` -> ``{old: new}``; OLD may hold spaces and ``=`` (split at the last)."""
    aliases = {}
    for text in texts:
        old, eq, new = text.rpartition("=")
        if not eq or not old or not _NAME.match(new):
            raise ValueError(f"alias {text!r}: expected OLD=NEW with NEW of letters, digits and "
                             "_.+- (e.g. 'gnugo --mode gtp --level 10=gnugo-l10')")
        aliases[old] = new
    return aliases


def round_path(out_dir, i, j, rnd):
    return os.path.join(out_dir, ROUNDS, f"{i}-{j}-{rnd:03d}.json")


def load_summaries(out_dir):
    """The match summaries of every finished round in ``out_dir`` (name order of files)."""
    folder = os.path.join(out_dir, ROUNDS)
    if not os.path.isdir(folder):
        return []
    out = []
    for fname in sorted(os.listdir(folder)):
        if fname.endswith(".json"):
            with open(os.path.join(folder, fname)) as f:
                out.append(json.load(f))
    return out


def _state(players, settings, games_per_pair):
    return {"players": [{"name": p.name, "spec": p.spec} for p in players],
            "settings": settings, "games_per_pair": games_per_pair}


def open_tournament(out_dir, players, settings, games_per_pair):
    """Create ``out_dir`` or check that it holds this tournament; returns its state dict."""
    state = _state(players, settings, games_per_pair)
    path = os.path.join(out_dir, STATE)
    if os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
        for key in ("players", "settings"):
            if old[key] != state[key]:
                raise MatchError(f"{path} holds a tournament with other {key}: "
                                 f"{old[key]} (now {state[key]}); use another directory")
    os.makedirs(os.path.join(out_dir, ROUNDS), exist_ok=True)
    atomic.write_json(path, state, indent=2)
    return state


def run_tournament(out_dir, players, cfg, games_per_pair, imports=(), anchor=None,
                   progress=False, log=print, aliases=None):
    """Play the rounds of the round-robin that are not on disk yet; return the final table.

    ``players``: ``PlayerSpec`` list (distinct names); ``cfg``: the ``MatchConfig`` of every
    game (its ``games``, ``seed`` and ``sgf_dir`` are set per round). Ctrl-C stops after the
    games in progress and leaves the finished rounds on disk."""
    if len(players) < 2:
        raise MatchError("a tournament needs at least two players")
    if len({p.name for p in players}) != len(players):
        raise MatchError("player names must differ")
    settings = json.loads(json.dumps({k: v for k, v in vars(cfg).items()
                                      if k not in ("games", "sgf_dir", "log_dir")}))
    open_tournament(out_dir, players, settings, games_per_pair)
    rounds = (games_per_pair + 1) // 2
    order = [p.name for p in players]
    for rnd in range(rounds):
        for i, j in itertools.combinations(range(len(players)), 2):
            path = round_path(out_dir, i, j, rnd)
            if os.path.exists(path):
                continue
            round_cfg = replace(cfg, games=2, seed=_derive_seed(cfg.seed, rnd, i, j),
                                sgf_dir=os.path.join(out_dir, "sgf", f"{i}-{j}-{rnd:03d}"))
            summary = run_match(players[i], players[j], round_cfg, progress=progress)
            if summary["interrupted"]:
                log(f"stopped in round {rnd + 1}; finished rounds are kept in {out_dir}")
                return write_table(out_dir, imports, anchor, order, aliases)
            write_summary(path, summary)
            w = summary["wins"]
            log(f"round {rnd + 1}/{rounds}: {players[i].name} {w['A']}-{w['draws']}-{w['B']} "
                f"{players[j].name}")
        write_table(out_dir, imports, anchor, order, aliases)
    return write_table(out_dir, imports, anchor, order, aliases)


def write_table(out_dir, imports=(), anchor=None, order=None, aliases=None):
    """Rate the rounds in ``out_dir`` plus the imported summaries; write table.json/.md."""
    summaries = load_summaries(out_dir)
    for path in imports:
        with open(path) as f:
            summaries.append(json.load(f))
    table = rating_table(summaries, anchor=anchor, order=order, aliases=aliases)
    table["imported"] = list(imports)
    table["aliases"] = dict(aliases or {})
    atomic.write_json(os.path.join(out_dir, "table.json"), table, indent=2)
    atomic.write_text(os.path.join(out_dir, "table.md"), format_table(table))
    return table


# -- command line -------------------------------------------------------------------------
def build_parser():
    p = argparse.ArgumentParser(prog="python -m selfplay.tournament",
                                description="Round-robin tournaments with an Elo per player.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="play the round-robin (resumes what DIR holds)")
    run.add_argument("dir", help="tournament directory")
    run.add_argument("--player", action="append", required=True, metavar="NAME=SPEC",
                     help="a player (a selfplay.match spec), at least two")
    run.add_argument("--games-per-pair", type=int, default=10,
                     help="games each pair plays, two per round (default 10)")
    add_settings(run)
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    for q in (run, sub.add_parser("table", help="rate what DIR holds")):
        if q is not run:
            q.add_argument("dir", help="tournament directory")
        q.add_argument("--import", dest="imports", action="append", default=[],
                       metavar="SUMMARY.json", help="add the games of a selfplay.match summary")
        q.add_argument("--anchor", help="player rated 0 (default: the first player)")
        q.add_argument("--alias", dest="aliases", action="append", default=[],
                       metavar="OLD=NEW", help="rate the player named OLD as NEW")
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    for path in args.imports:
        if not os.path.isfile(path):
            parser.error(f"--import {path}: no such file")
    try:
        aliases = parse_aliases(args.aliases)
        if args.command == "table":
            order = [p["name"] for p in _read_state(args.dir)["players"]]
            table = write_table(args.dir, args.imports, args.anchor, order, aliases)
        else:
            if args.games_per_pair < 1:
                parser.error("--games-per-pair must be at least 1")
            players = [parse_named(text) for text in args.player]
            cfg = MatchConfig(games=2, **settings_from_args(args))
            table = run_tournament(args.dir, players, cfg, args.games_per_pair, args.imports,
                                   args.anchor, progress=not args.no_progress,
                                   aliases=aliases)
    except (ValueError, MatchError, OSError) as e:
        print(f"tournament: {e}", file=sys.stderr)
        return 2
    print(format_table(table), end="")
    return 0


def _read_state(out_dir):
    path = os.path.join(out_dir, STATE)
    if not os.path.exists(path):
        raise ValueError(f"{out_dir} holds no tournament ({STATE} missing)")
    with open(path) as f:
        return json.load(f)


if __name__ == "__main__":
    sys.exit(main())
