"""Evaluator gating: does a newly trained network beat the current best one?

AlphaGo Zero's evaluator plays the candidate against the best network so far (400 games,
1600 simulations a move) and promotes it when it wins at least 55% of them. ``gate`` does the
same in one process:

- every game is an MCTS per side (``engine.search.Search``, value net only, expanded at once,
  no root noise), each side's tree kept from move to move; the candidate plays black in the
  even-numbered games and white in the odd ones, so both networks get both colours equally;
- variety: the first ``temperature_moves`` moves of a game are drawn by visit share at
  temperature 1, later moves are the most visited; every network evaluation is under a random
  board symmetry. Without this two deterministic networks would play the same two games;
- ``parallel_games`` games run at once and their leaves go through each network in ONE forward
  pass per step (``selfplay.zero_selfplay.BatchedNet`` and the step-wise
  ``Search.begin_batch`` / ``finish_batch``, as in self-play); with ``lanes`` > 1 that many
  such loops share the games, each in its own thread with its own forward passes;
- a side resigns when its root value and the value of its best move are both below
  ``resign_threshold`` (win probability); other games end on two passes or the move cap and
  are scored by Tromp-Taylor with komi;
- decision: promote iff the candidate's score (wins + draws / 2 per game) is at least
  ``threshold``; with ``sprt=(elo0, elo1)`` the match stops as soon as Wald's SPRT decides and
  promotes iff it accepts H1 (the candidate is elo1 stronger); undecided after all games, the
  threshold rule decides.

The result dict carries the counts, score, Elo with its 95% interval (``selfplay.stats``) and
the decision. ``record_gate`` writes it into the run's ledger:

``ledger.json``::

    {"generations": [{"generation": 0, "step": 0, "elo": 0.0, "games": 0, "date": ...,
                      "checkpoint": "checkpoints/step-0.pt"}, ...],   # promoted networks
     "gates": [gate result, ...]}                                      # every gating match

A promoted network's ``elo`` is relative to generation 0: the previous generation's plus the
gating Elo difference (a 100% or 0% score counts as half a game lost or won, so the sum stays
finite). The ledger is written atomically (``engine.atomic``).
"""
import datetime
import json
import math
import os
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch

from engine import atomic
from engine.board import BLACK, WHITE
from engine.config import Config, check
from engine.game import GameState
from engine.search import Search, no_losing_pass
from engine.sgf import game_to_sgf, write_sgf_atomic
from nets.checkpoint import load_checkpoint
from nets.evaluator import PRECISIONS
from nets.features import history_stack
from selfplay import stats
from selfplay.zero_selfplay import (BatchedNet, SearchRounds, SelfPlayConfig, SharedNetSlot,
                                    default_lanes, outcome, play_lane, run_lanes)

LEDGER = "ledger.json"


@dataclass(frozen=True)
class GateConfig(Config):
    """Settings of a gating match (the board size and komi come from the run)."""
    games: int = 400  # games of the match (AlphaGo Zero: 400)
    threshold: float = 0.55  # promote when the candidate scores at least this (AlphaGo Zero: 0.55)
    visits: int = 200  # simulations per move (AlphaGo Zero: 1600)
    parallel_games: int = 32  # games in progress at once in each lane
    leaf_batch: int = 8  # leaves each game contributes per network call
    temperature_moves: int = 4  # opening moves drawn by visit share, for variety between games
    resign_threshold: float = 0.05  # resign below this win probability; 0 = never
    max_moves: int = 0  # a game stops after this many moves and is scored; 0 = 2 * N^2
    sprt_elo0: float = 0.0  # SPRT H0: candidate at most this much stronger (used when sprt_elo1 > 0)
    sprt_elo1: float = 0.0  # SPRT H1 elo; 0 = no SPRT, the threshold alone decides
    precision: str = "fp32"  # forward passes of both networks: fp32, bf16, int8 (CPU) or auto

    def __post_init__(self):
        check(type(self).__name__, [
            (self.games >= 1, "games must be at least 1"),
            (0.0 < self.threshold <= 1.0, "threshold must be in (0, 1]"),
            (self.visits >= 1, "visits must be at least 1"),
            (self.parallel_games >= 1, "parallel_games must be at least 1"),
            (1 <= self.leaf_batch <= 4096, "leaf_batch must be 1..4096"),
            (self.temperature_moves >= 0, "temperature_moves must not be negative"),
            (0.0 <= self.resign_threshold < 1.0, "resign_threshold must be in [0, 1)"),
            (self.max_moves >= 0, "max_moves must not be negative"),
            (self.sprt_elo1 <= 0 or self.sprt_elo1 > self.sprt_elo0,
             "sprt_elo1 must exceed sprt_elo0"),
            (self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}"),
        ])

    @property
    def sprt(self):
        """(elo0, elo1) or None."""
        return (self.sprt_elo0, self.sprt_elo1) if self.sprt_elo1 > 0 else None


class _GateGame:
    """One game of the match: its state and one search tree per colour."""

    def __init__(self, index, sp, seed):
        self.index = index  # game number in the match
        self.candidate = BLACK if index % 2 == 0 else WHITE  # colour the candidate plays
        rng = np.random.default_rng([seed, index, 2])
        self.state = GameState(sp.board_size, sp.komi, move_limit=sp.move_cap)
        self.searches = {c: Search(sp.search_config(int(rng.integers(2 ** 31))), SharedNetSlot())
                         for c in (BLACK, WHITE)}
        self.resigned = 0  # colour that resigned, 0 = none
        self.target = sp.visits  # simulations of every search
        self.sims = 0  # simulations done in the current search
        self.root_stack = None  # history stack of the current root

    @property
    def search(self):
        return self.searches[self.state.to_move]


def _finite_elo(wins, draws, losses):
    """Elo of a score, with a perfect or zero score moved half a game inward."""
    n = wins + draws + losses
    if n == 0:
        return 0.0
    s = (wins + 0.5 * draws) / n
    s = min(max(s, 0.5 / n), 1.0 - 0.5 / n)
    return stats.elo_from_score(s)


def _json_float(x):
    return None if x is None or not math.isfinite(x) else float(x)


def gate(candidate_ckpt, best_ckpt, games=400, threshold=0.55, visits=200, board_size=9,
         komi=7.5, sprt=None, seed=0, parallel_games=32, leaf_batch=8, temperature_moves=4,
         resign_threshold=0.05, max_moves=0, device=None, sgf_dir=None, progress=False,
         lanes=1, precision="fp32"):
    """Play ``games`` games between the networks of two checkpoints and decide promotion.

    ``sprt``: None or (elo0, elo1) for an early-stopping SPRT (alpha = beta = 0.05).
    ``sgf_dir``: when given, every game is written there as ``gate-<index>.sgf``.
    ``precision``: the forward passes of both networks (``nets.evaluator.PRECISIONS``), the
    same for both so neither gains from it.
    ``lanes``: the games are dealt to that many loops in threads of their own (lane j plays
    games j, j + lanes, ...), each with ``parallel_games`` games at once and its own forward
    passes, on 1 torch thread each on the CPU (``selfplay.zero_selfplay.run_lanes``): all the
    cores busy in one process. The games depend on the number of lanes; with an SPRT and
    several lanes, where the match stops also depends on which lane finishes a game first.
    Returns a JSON-ready dict: candidate / best (paths), candidate_step / best_step, games,
    wins / draws / losses (candidate's), score, score_low / score_high (Wilson 95%), elo,
    elo_low / elo_high (None where infinite), elo_finite (for cumulative sums), threshold,
    sprt (status dict or None), promoted, candidate_black_score / candidate_white_score,
    visits, precision (the one the passes ran in), seconds, date."""
    cfg = GateConfig(games=games, threshold=threshold, visits=visits,
                     parallel_games=parallel_games, leaf_batch=leaf_batch,
                     temperature_moves=temperature_moves, resign_threshold=resign_threshold,
                     max_moves=max_moves,
                     sprt_elo0=sprt[0] if sprt else 0.0, sprt_elo1=sprt[1] if sprt else 0.0,
                     precision=precision)
    t0 = time.perf_counter()
    cand_model, _, cand_step, _ = load_checkpoint(candidate_ckpt, board_size=board_size)
    best_model, _, best_step, _ = load_checkpoint(best_ckpt, board_size=board_size)
    nets = {"cand": BatchedNet(cand_model, board_size, device, True, seed * 2 + 1, precision),
            "best": BatchedNet(best_model, board_size, device, True, seed * 2 + 2, precision)}
    # the search settings of self-play without root noise
    sp = SelfPlayConfig(board_size=board_size, komi=komi, visits=visits, leaf_batch=leaf_batch,
                        dirichlet_epsilon=0.0, max_moves=max_moves, resign_threshold=0.0)
    if sgf_dir:
        os.makedirs(sgf_dir, exist_ok=True)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=cfg.games, unit="game", desc="gate", dynamic_ncols=True)
    wins = draws = losses = 0
    by_colour = {BLACK: [0.0, 0], WHITE: [0.0, 0]}  # candidate's points and games per colour
    decision = None
    lanes = max(1, min(int(lanes), cfg.games))
    lock = threading.Lock()  # guards the score, the decision and the bar across lanes
    stop = threading.Event()  # set by the SPRT decision or a failing lane

    def new_game(index):
        g = _GateGame(index, sp, seed)
        prepare(g)
        return g

    def prepare(g):
        g.sims = 0
        s = g.search
        s.prepare(g.state, g.state.to_move, noise=False, forbid_losing_pass=True)
        g.root_stack = history_stack(s.root_state)

    def move(g):
        """Search done: resign or play. True when the game is over."""
        s, state = g.search, g.state
        s.end_search()
        color = state.to_move
        ranked, value = s.results()
        if cfg.resign_threshold > 0 and ranked:
            if value < cfg.resign_threshold:
                g.resigned = color
                return True
        greedy = len(state.history) >= cfg.temperature_moves
        move = s.choose(temperature=0.0 if greedy else 1.0, ranked=ranked)
        state.play(color, no_losing_pass(s, state, color, move))
        if state.is_over():
            return True
        prepare(g)
        return False

    def finish(g):
        """Count a finished game and write it, unless the SPRT has already decided the match."""
        nonlocal wins, draws, losses, decision
        state = g.state
        winner, result = outcome(state, g.resigned)
        with lock:
            if decision is not None:
                return
            points = 0.5 if winner == 0 else float(winner == g.candidate)
            if winner == 0:
                draws += 1
            elif winner == g.candidate:
                wins += 1
            else:
                losses += 1
            by_colour[g.candidate][0] += points
            by_colour[g.candidate][1] += 1
            if cfg.sprt is not None:
                decision = stats.sprt_decision(
                    stats.sprt_llr(wins, draws, losses, cfg.sprt[0], cfg.sprt[1]))
                if decision is not None:
                    stop.set()  # the match ends; unfinished games are dropped
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(f"+{wins} ={draws} -{losses}")
        if sgf_dir:
            names = {g.candidate: f"step-{cand_step}", 3 - g.candidate: f"step-{best_step}"}
            text = game_to_sgf(state, black_name=names[BLACK], white_name=names[WHITE],
                               result=result, extra={"GN": f"gate-{g.index:04d}"})
            write_sgf_atomic(os.path.join(sgf_dir, f"gate-{g.index:04d}.sgf"), text)

    def lane(j):
        """Games j, j + lanes, ... with lane j's networks, ``parallel_games`` at once."""
        mine = lane_nets[j]
        rounds = SearchRounds(board_size, cfg.leaf_batch)
        try:
            play_lane(rounds, range(j, cfg.games, lanes), cfg.parallel_games, new_game, move,
                      finish, lambda g: mine["cand" if g.state.to_move == g.candidate else "best"],
                      stop)
        finally:
            rounds.close()

    lane_nets = [nets] + [{k: net.sibling([seed, 8, j, i]) for i, (k, net) in
                           enumerate(nets.items())} for j in range(1, lanes)]
    try:
        run_lanes(lanes, lane, stop, cpu=nets["cand"].device.type == "cpu")
    finally:
        if bar is not None:
            bar.close()

    n = wins + draws + losses
    score = stats.score_fraction(wins, draws, losses)
    lo, hi = stats.wilson_interval(wins + 0.5 * draws, n)
    elo, elo_lo, elo_hi = stats.elo_interval(wins, draws, losses)
    sprt_info = None
    if cfg.sprt is not None:
        sprt_info = stats.sprt_status(wins, draws, losses, cfg.sprt[0], cfg.sprt[1])
    promoted = decision == "H1" if decision is not None else score >= cfg.threshold
    return {
        "candidate": os.fspath(candidate_ckpt), "best": os.fspath(best_ckpt),
        "candidate_step": int(cand_step), "best_step": int(best_step),
        "games": n, "wins": wins, "draws": draws, "losses": losses,
        "score": score, "score_low": lo, "score_high": hi,
        "elo": _json_float(elo), "elo_low": _json_float(elo_lo), "elo_high": _json_float(elo_hi),
        "elo_finite": _finite_elo(wins, draws, losses),
        "threshold": cfg.threshold, "sprt": sprt_info, "promoted": bool(promoted),
        "candidate_black_score": by_colour[BLACK][0] / by_colour[BLACK][1] if by_colour[BLACK][1] else None,
        "candidate_white_score": by_colour[WHITE][0] / by_colour[WHITE][1] if by_colour[WHITE][1] else None,
        "visits": cfg.visits, "precision": nets["cand"].precision,
        "seconds": time.perf_counter() - t0, "date": _now(),
    }


def gate_with(config, candidate_ckpt, best_ckpt, board_size, komi, seed=0, device=None,
              sgf_dir=None, progress=False, lanes=1):
    """``gate`` with the settings of a ``GateConfig``."""
    return gate(candidate_ckpt, best_ckpt, games=config.games, threshold=config.threshold,
                visits=config.visits, board_size=board_size, komi=komi, sprt=config.sprt,
                seed=seed, parallel_games=config.parallel_games, leaf_batch=config.leaf_batch,
                temperature_moves=config.temperature_moves,
                resign_threshold=config.resign_threshold, max_moves=config.max_moves,
                device=device, sgf_dir=sgf_dir, progress=progress, lanes=lanes,
                precision=config.precision)


# ---------------------------------------------------------------------------------------------
# Ledger and promotion

def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def read_ledger(run_dir):
    """The run's ledger dict (an empty one when there is no ledger yet)."""
    path = os.path.join(run_dir, LEDGER)
    data = atomic.read_json(path, default={"generations": [], "gates": []}, error=ValueError)
    if not isinstance(data, dict) or not isinstance(data.get("generations"), list) \
            or not isinstance(data.get("gates"), list):
        raise ValueError(f"{path}: expected an object with 'generations' and 'gates' lists")
    return data


def write_ledger(run_dir, ledger):
    """Write the ledger atomically."""
    atomic.write_json(os.path.join(run_dir, LEDGER), ledger, indent=1, allow_nan=False)


def start_ledger(run_dir, step, checkpoint):
    """Ledger with generation 0 (the network at ``step``, Elo 0) and no gates; written."""
    ledger = {"generations": [{"generation": 0, "step": int(step), "elo": 0.0, "games": 0,
                               "date": _now(), "checkpoint": checkpoint}], "gates": []}
    write_ledger(run_dir, ledger)
    return ledger


def record_gate(run_dir, result, checkpoint=None):
    """Append a gate result to the ledger and, when it promoted, a new generation whose Elo is
    the previous generation's plus the gating difference; written atomically. Returns the
    ledger."""
    ledger = read_ledger(run_dir)
    ledger["gates"].append(result)
    if result["promoted"]:
        gens = ledger["generations"]
        prev = gens[-1]["elo"] if gens else 0.0
        gens.append({"generation": len(gens), "step": int(result["candidate_step"]),
                     "elo": prev + result["elo_finite"], "games": int(result["games"]),
                     "score": result["score"], "date": result["date"],
                     "checkpoint": checkpoint or result["candidate"]})
    write_ledger(run_dir, ledger)
    return ledger


def _main(argv=None):
    import argparse
    import sys
    ap = argparse.ArgumentParser(prog="python -m selfplay.gating",
                                 description="Gating match between two network checkpoints.")
    ap.add_argument("candidate")
    ap.add_argument("best")
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--komi", type=float, default=7.5)
    ap.add_argument("--games", type=int, default=400)
    ap.add_argument("--threshold", type=float, default=0.55)
    ap.add_argument("--visits", type=int, default=200)
    ap.add_argument("--parallel", type=int, default=32, help="games at once in each lane")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lanes", type=int, default=0,
                    help="games in that many threads, 1 torch thread each on the CPU; 0 = one "
                         "per CPU core on the CPU, 1 with a GPU")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads of a single lane")
    ap.add_argument("--device", default=None)
    ap.add_argument("--precision", choices=PRECISIONS, default="fp32",
                    help="forward passes of both networks (int8: CPU only)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        res = gate(args.candidate, args.best, games=args.games, threshold=args.threshold,
                   visits=args.visits, board_size=args.size, komi=args.komi, seed=args.seed,
                   parallel_games=args.parallel, device=args.device, progress=True,
                   lanes=default_lanes(args.lanes, args.device), precision=args.precision)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
