"""Teacher games: GNU Go plays itself at mixed levels and writes an SGF collection.

    python -m selfplay.teacher --out DIR --size 9 --games N [--levels 6-10] [--opening-moves 2-6]
        [--komi 7] [--parallel K] [--seed S] [--gnugo "/usr/games/gnugo --mode gtp --chinese-rules"]

When no human game archive exists for a board size, these games stand in for one: the
supervised policy learns GNU Go's moves, the value data sees its results.

Each game draws black's and white's GNU Go level uniformly from ``--levels`` and the length of
its random opening uniformly from ``--opening-moves``; the opening is ``selfplay.match``'s
(legal moves away from the first line, never filling an own eye). Game ``i`` depends only on
``--seed`` and ``i``: its levels, its opening and the ``--seed`` given to each GNU Go process.

The games are played by ``selfplay.match`` (``Table`` / ``play_game``): it is the referee
(positional superko; a move it refuses or a dead engine forfeits the game), scores finished
games with GNU Go's ``final_score`` by default (``--referee``) and writes each game as
``DIR/game-NNNN.sgf`` through a temporary file and a rename. PB/PW name the level
(``GNU Go level 7``), RE holds the result, KM the komi, GC how the game ended and its opening.
``python -m nets.sgf_data DIR --size N`` reads the folder as it is.

``--games N`` is the number of games DIR should hold. A run counts the ``game-NNNN.sgf``
already there and plays the missing numbers (gaps first, then on from the highest), so running
the same command again after an interruption finishes the set; an interrupted run loses only
the games in progress. One run per folder at a time.
"""
import argparse
import os
import re
import sys
import threading
from dataclasses import dataclass

import numpy as np

from engine import atomic
from engine.progress import progress_bar
from selfplay.match import (MatchConfig, MatchError, REFEREES, Table, _Aborted, opening, parse_player,
                            play_game)

DEFAULT_GNUGO = "/usr/games/gnugo --mode gtp --chinese-rules"
GAME_FILE = re.compile(r"^game-(\d+)\.sgf$")  # game i is written as game-{i+1:04d}.sgf


@dataclass(frozen=True)
class TeacherConfig:
    """A teacher-game run."""
    out: str  # folder of the SGF collection
    size: int = 9  # board size
    games: int = 100  # games the folder should hold when the run ends
    levels: tuple = (6, 10)  # GNU Go levels (lowest, highest); each side draws one per game
    opening_moves: tuple = (2, 6)  # random opening length (shortest, longest)
    komi: float = 7.0  # white's compensation
    parallel: int = 1  # games played at once, each with its own GNU Go processes
    seed: int = 0  # levels, openings and GNU Go's seeds all derive from it and the game number
    gnugo: str = DEFAULT_GNUGO  # GNU Go command line; --level and --seed are appended per game
    referee: str = "gnugo"  # scoring of finished games, one of selfplay.match.REFEREES
    move_timeout: float = 60.0  # seconds per move before an engine forfeits

    def __post_init__(self):
        if not 2 <= self.size <= 19:
            raise ValueError(f"board size must be 2..19, got {self.size}")
        if self.games < 0:
            raise ValueError("games must be >= 0")
        lo, hi = self.levels
        if not 0 <= lo <= hi:
            raise ValueError(f"levels must be LOW-HIGH with 0 <= LOW <= HIGH, got {lo}-{hi}")
        lo, hi = self.opening_moves
        if not 0 <= lo <= hi:
            raise ValueError(f"opening moves must be LOW-HIGH with 0 <= LOW <= HIGH, got {lo}-{hi}")
        if self.parallel < 1:
            raise ValueError("parallel must be at least 1")
        if self.referee not in REFEREES:
            raise ValueError(f"referee must be one of {REFEREES}")
        if self.move_timeout <= 0:
            raise ValueError("move timeout must be positive")


@dataclass(frozen=True)
class GamePlan:
    """Everything random about one game, drawn from the run's seed and the game number."""
    index: int  # game number from 0 (file game-{index+1:04d}.sgf)
    black_level: int  # GNU Go level of black
    white_level: int  # GNU Go level of white
    opening_moves: int  # random moves before GNU Go takes over
    seed: int  # base of the GNU Go seeds and of the opening


def plan_game(cfg, index):
    """The ``GamePlan`` of game ``index``: the same for the same seed, whatever else ran."""
    rng = np.random.default_rng([cfg.seed & 0xFFFFFFFF, index, 0x7EAC])
    lb, lw = (int(x) for x in rng.integers(cfg.levels[0], cfg.levels[1] + 1, size=2))
    k = int(rng.integers(cfg.opening_moves[0], cfg.opening_moves[1] + 1))
    return GamePlan(index=index, black_level=lb, white_level=lw, opening_moves=k,
                    seed=int(rng.integers(2 ** 31)))


def existing_games(out):
    """Game numbers (from 0) already written in ``out``."""
    if not os.path.isdir(out):
        return set()
    return {int(m.group(1)) - 1 for f in os.listdir(out) if (m := GAME_FILE.match(f)) and int(m.group(1)) >= 1}


def games_to_play(cfg):
    """The numbers of the games still missing from ``cfg.out``: gaps first, then new ones."""
    have = existing_games(cfg.out)
    missing = max(0, cfg.games - len(have))
    todo, i = [], 0
    while len(todo) < missing:
        if i not in have:
            todo.append(i)
        i += 1
    return todo


def _match_config(cfg, plan):
    return MatchConfig(games=1, size=cfg.size, komi=cfg.komi, ko_rule="positional",
                       move_timeout=cfg.move_timeout, opening_moves=plan.opening_moves,
                       seed=plan.seed, referee=cfg.referee, referee_cmd=cfg.gnugo, sgf_dir=cfg.out)


def _player(cfg, level, seed):
    spec = f"gtp:{cfg.gnugo} --level {level} --seed {seed}"
    return parse_player(spec, name=f"GNU Go level {level}")


def play_teacher_game(cfg, plan, tables, slot):
    """Play and write one game; returns selfplay.match's record of it. ``tables[slot]`` holds
    the game's Table while it runs so that an interrupt can abort it."""
    mcfg = _match_config(cfg, plan)
    black = _player(cfg, plan.black_level, plan.seed)
    white = _player(cfg, plan.white_level, (plan.seed + 1) % 2 ** 31)
    # play_game gives player A black in even games
    players = {"A": black, "B": white} if plan.index % 2 == 0 else {"A": white, "B": black}
    table = Table(slot, players, mcfg)
    tables[slot] = table
    try:
        return play_game(table, plan.index, opening(mcfg, plan.index))
    finally:
        tables[slot] = None
        table.close()


def run(cfg, progress=True):
    """Play the missing games of ``cfg.out``; returns a summary dict. Ctrl-C stops the run
    (finished games are kept; ``interrupted`` says so)."""
    parse_player("gtp:" + cfg.gnugo)  # ValueError now rather than in every worker
    os.makedirs(cfg.out, exist_ok=True)
    atomic.remove_stale(cfg.out)  # half-written games of a killed run
    had = len(existing_games(cfg.out))
    todo = games_to_play(cfg)
    jobs = iter(todo)
    lock = threading.Lock()
    stop = threading.Event()
    results = []  # selfplay.match GameRecord per finished game
    errors = []  # MatchError (or anything unexpected) that stopped a worker
    tables = [None] * max(1, min(cfg.parallel, len(todo)))
    bar = progress_bar(len(todo), progress)

    def work(slot):
        while not stop.is_set():
            with lock:
                index = next(jobs, None)
            if index is None:
                return
            try:
                rec = play_teacher_game(cfg, plan_game(cfg, index), tables, slot)
            except _Aborted:
                return
            except BaseException as e:  # reported by the main thread, which stops the run
                with lock:
                    errors.append(e)
                stop.set()
                return
            with lock:
                results.append(rec)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix_str(f"last {rec.result} ({rec.black_name} - {rec.white_name})",
                                        refresh=False)
                else:
                    print(f"game {index + 1}: {rec.black_name} (B) - {rec.white_name} (W) "
                          f"{rec.result}, {rec.moves} moves", flush=True)

    threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(len(tables))]
    interrupted = False
    try:
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.2)
                if stop.is_set():
                    for table in list(tables):
                        if table is not None:
                            table.abort()
    except KeyboardInterrupt:
        interrupted = True
        stop.set()
        for table in list(tables):
            if table is not None:
                table.abort()
        for t in threads:
            t.join(timeout=10.0)
    finally:
        if bar is not None:
            bar.close()
    if errors:
        e = errors[0]
        raise e if isinstance(e, MatchError) else MatchError(f"teacher run stopped: {e!r}") from e
    return summarize(cfg, had, results, interrupted)


def summarize(cfg, had, results, interrupted=False):
    """JSON-ready summary of a run: games before and after, results and how games ended."""
    ends, by_level = {}, {}
    for r in results:
        ends[r.reason] = ends.get(r.reason, 0) + 1
        winner = None if r.winner is None else (r.black_name if r.winner == r.black else r.white_name)
        if winner is not None:
            by_level[winner] = by_level.get(winner, 0) + 1
    return {
        "out": cfg.out, "had": had, "played": len(results), "total": len(existing_games(cfg.out)),
        "interrupted": interrupted,
        "black_wins": sum(r.winner is not None and r.winner == r.black for r in results),
        "white_wins": sum(r.winner is not None and r.winner == r.white for r in results),
        "draws": sum(r.winner is None for r in results),
        "ends": ends, "wins_by_player": dict(sorted(by_level.items())),
        "average_length": sum(r.moves for r in results) / len(results) if results else None,
    }


def format_summary(s):
    lines = [f"{s['out']}: {s['total']} games ({s['had']} kept from before, {s['played']} played"
             + (", interrupted" if s["interrupted"] else "") + ")"]
    if s["played"]:
        lines.append(f"  black won {s['black_wins']}, white won {s['white_wins']}, draws {s['draws']}; "
                     f"average length {s['average_length']:.1f} moves; ends: "
                     + ", ".join(f"{k} {v}" for k, v in sorted(s["ends"].items())))
        lines.append("  wins: " + ", ".join(f"{k} {v}" for k, v in s["wins_by_player"].items()))
    return "\n".join(lines)


def _range(text):
    """'6-10' -> (6, 10); '7' -> (7, 7)."""
    lo, sep, hi = text.partition("-")
    try:
        lo = int(lo)
        hi = int(hi) if sep else lo
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW-HIGH or a number, got {text!r}") from None
    if not 0 <= lo <= hi:
        raise argparse.ArgumentTypeError(f"need 0 <= LOW <= HIGH, got {text!r}")
    return lo, hi


def build_parser():
    d = TeacherConfig(out="")
    p = argparse.ArgumentParser(
        prog="python -m selfplay.teacher",
        description="GNU Go plays itself at mixed levels from random openings; one SGF per game. "
                    "Re-running the same command completes an interrupted set.")
    p.add_argument("--out", required=True, help="folder of the SGF collection")
    p.add_argument("--size", type=int, default=d.size, help=f"board size (default {d.size})")
    p.add_argument("--games", type=int, default=d.games,
                   help="games the folder should hold; existing games count (default %(default)s)")
    p.add_argument("--levels", type=_range, default=d.levels, metavar="LOW-HIGH",
                   help="GNU Go levels, drawn per side and game (default 6-10)")
    p.add_argument("--opening-moves", type=_range, default=d.opening_moves, metavar="LOW-HIGH",
                   help="random opening moves per game (default 2-6)")
    p.add_argument("--komi", type=float, default=d.komi, help=f"komi (default {d.komi:g})")
    p.add_argument("--parallel", type=int, default=d.parallel, help="games at once (default 1)")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of levels, openings and GNU Go")
    p.add_argument("--gnugo", default=d.gnugo, help=f"GNU Go command line (default '{d.gnugo}')")
    p.add_argument("--referee", choices=REFEREES, default=d.referee,
                   help="scoring of finished games (default gnugo: GNU Go's final_score)")
    p.add_argument("--move-timeout", type=float, default=d.move_timeout,
                   help=f"seconds per move before an engine forfeits (default {d.move_timeout:g})")
    p.add_argument("--no-progress", action="store_true", help="a line per game instead of a bar")
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = TeacherConfig(out=args.out, size=args.size, games=args.games, levels=args.levels,
                            opening_moves=args.opening_moves, komi=args.komi, parallel=args.parallel,
                            seed=args.seed, gnugo=args.gnugo, referee=args.referee,
                            move_timeout=args.move_timeout)
        parse_player("gtp:" + cfg.gnugo)
    except ValueError as e:
        parser.error(str(e))
    try:
        summary = run(cfg, progress=not args.no_progress)
    except MatchError as e:
        print(f"teacher: {e}", file=sys.stderr)
        return 2
    print(format_summary(summary))
    return 130 if summary["interrupted"] else 0


if __name__ == "__main__":
    sys.exit(main())
