"""The AlphaGo Zero loop in one command: self-play -> train -> gate -> promote, repeated.

    python -m selfplay.zero --run runs/zero9 --size 9 --net b6c64 [--games-per-gen 200]
        [--steps-per-gen 1000] [--gate-games 400] [--max-hours H] [--max-games G]
        [--max-generations K]

Run directory ``runs/<name>/``::

    config.json            ZeroConfig: "net" and "train" (read by nets.train too), "selfplay",
                           "gate", "loop"; written on the first start, read back on every resume
    games/<name>.npz/.sgf  self-play games (selfplay.zero_selfplay), one pair per finished game
    checkpoints/step-<k>.pt  trained networks (nets.train), best.pt the promoted one
    ledger.json            promoted generations with Elo, and every gating result
    logs/zero.log          the loop's log; logs/train.jsonl training metrics;
    logs/progress.png      Elo per generation and training losses (when matplotlib is installed)
    logs/gate-<step>/      SGF of the gating games of the checkpoint at <step>

Cycle c (from 0) of the loop:

1. self-play ``games_per_generation`` games with ``best.pt`` into ``games/``, named
   ``c<cycle>-...``;
2. train from the newest checkpoint to step ``(c + 1) * steps_per_generation`` over the replay
   window of the newest games (the trainer writes ``step-<k>.pt``);
3. gate that checkpoint against ``best.pt`` (in this process, in as many lanes as there are
   self-play workers: ``selfplay.gating.gate``); the result goes into the ledger, and a
   promoted network is copied (atomically) to ``best.pt``.

Everything the loop needs to know is read from the files, never kept only in memory, so the
command can be killed at any moment (even SIGKILL) and started again: the cycle is the number of
gating results in the ledger; the games of a cycle are the ``c<cycle>-*.npz`` files (each
written atomically: a killed game is simply played again); the training step is the newest
readable checkpoint's (an unreadable one is skipped with a message and trained again); a
promotion whose copy to ``best.pt`` was cut off is completed from the ledger at the next start.

Generation 0 is a fresh random network, saved as ``step-0.pt`` and ``best.pt``; with
``--init CHECKPOINT`` it is that network instead (an exported or shipped one, whose network
config the run takes over), so training goes on from it in a new run directory: the steps
count from 0 again, the optimizer starts fresh, the replay window fills with the new games.
"""
import argparse
import json
import logging
import os
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from engine import atomic
from engine.config import Config, check
from nets.checkpoint import CheckpointError, load_checkpoint, read_payload
from nets.evaluator import PRECISIONS
from nets.replay import ReplayWindow
from nets.resnet import NetConfig
from nets.train import (MetricsLog, TrainConfig, list_checkpoints, make_optimizer, resume,
                        save_training_checkpoint, train_steps)
from selfplay import gating
from selfplay.gating import GateConfig
from selfplay.zero_selfplay import (SelfPlayConfig, default_lanes, resign_threshold_for,
                                    run_selfplay)

logger = logging.getLogger("selfplay.zero")


@dataclass(frozen=True)
class LoopConfig(Config):
    """How much to do per cycle, and when to stop."""
    games_per_generation: int = 200  # self-play games per cycle
    max_games: int = 0  # stop once games/ holds this many games; 0 = no limit
    max_hours: float = 0.0  # stop after this many hours of this invocation; 0 = no limit
    max_generations: int = 0  # stop after this many cycles (gating matches) in all; 0 = no limit
    seed: int = 0  # seeds self-play and gating of every cycle
    workers: int = 0  # self-play processes and gating lanes; 0 = one per core (gating: 1 on a GPU)
    resign_calibration: bool = True  # set each cycle's resignation threshold from played-out games
    resign_false_rate: float = 0.05  # calibrated threshold: at most this share of false resignations
    resign_min_games: int = 20  # played-out games needed before any resignation is allowed
    resign_window: int = 50  # the threshold comes from this many newest played-out games
    init_from: str = ""  # checkpoint whose weights are generation 0 (e.g. a shipped network); "" = random

    def __post_init__(self):
        check(type(self).__name__, [
            (self.games_per_generation >= 1, "games_per_generation must be at least 1"),
            (self.workers >= 0, "workers must not be negative (0 = one per CPU core)"),
            (0 <= self.resign_false_rate < 1, "resign_false_rate must be in [0, 1)"),
            (self.resign_min_games >= 1, "resign_min_games must be at least 1"),
            (self.resign_window >= self.resign_min_games,
             "resign_window must be at least resign_min_games"),
            (self.max_games >= 0, "max_games must not be negative (0 = no limit)"),
            (self.max_hours >= 0, "max_hours must not be negative (0 = no limit)"),
            (self.max_generations >= 0, "max_generations must not be negative (0 = no limit)"),
        ])


@dataclass(frozen=True)
class ZeroConfig:
    """Everything a run needs; stored as ``config.json`` in the run directory."""
    net: NetConfig  # the network (its board_size is the run's board size)
    train: TrainConfig = field(default_factory=TrainConfig)  # optimisation; steps_per_generation = steps per cycle
    selfplay: SelfPlayConfig = field(default_factory=SelfPlayConfig)  # self-play games (board size and komi of the run)
    gate: GateConfig = field(default_factory=GateConfig)  # gating matches
    loop: LoopConfig = field(default_factory=LoopConfig)  # games per cycle and budget

    SECTIONS = {"net": NetConfig, "train": TrainConfig, "selfplay": SelfPlayConfig,
                "gate": GateConfig, "loop": LoopConfig}  # class constant, not a field

    def __post_init__(self):
        if self.selfplay.board_size != self.net.board_size:
            raise ValueError(f"self-play board size {self.selfplay.board_size} differs from the "
                             f"network's {self.net.board_size}")

    @property
    def board_size(self):
        return self.net.board_size

    def to_dict(self):
        """Each section's ``to_dict()`` under its name."""
        return {name: getattr(self, name).to_dict() for name in self.SECTIONS}

    @classmethod
    def from_dict(cls, d):
        """Inverse of ``to_dict``; unknown keys anywhere are an error (a typo would be lost),
        a missing section other than ``net`` takes its defaults."""
        bad = sorted(set(d) - set(cls.SECTIONS))
        if bad:
            raise ValueError(f"unknown config sections {bad}")
        if "net" not in d:
            raise ValueError("config has no 'net' section")
        return cls(**{name: kind.from_dict(d[name]) for name, kind in cls.SECTIONS.items()
                      if name in d})


def config_path(run_dir):
    return os.path.join(run_dir, "config.json")


def save_config(run_dir, config):
    """Write ``config.json`` atomically."""
    os.makedirs(run_dir, exist_ok=True)
    atomic.write_json(config_path(run_dir), config.to_dict(), indent=1, allow_nan=False)


def load_config(run_dir):
    """The run's ZeroConfig, or None when config.json does not exist."""
    path = config_path(run_dir)
    if not os.path.exists(path):
        return None
    data = atomic.read_json_object(path, error=ValueError)
    try:
        return ZeroConfig.from_dict(data)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: {e}") from None


# ---------------------------------------------------------------------------------------------
# State of a run, read from its files

def count_games(games_dir, prefix=None):
    """Finished games (``*.npz``; unfinished ones have a ``.tmp`` name) in ``games_dir``, or those whose
    name starts with ``prefix``."""
    try:
        names = os.listdir(games_dir)
    except FileNotFoundError:
        return 0
    return sum(1 for n in names if n.endswith(".npz") and (prefix is None or n.startswith(prefix)))


def newest_readable(ckpt_dir, board_size):
    """(step, path) of the newest checkpoint that loads; unreadable ones are reported and
    skipped. (None, None) when there is none."""
    for step, path in list_checkpoints(ckpt_dir):
        try:
            payload = read_payload(path)
            if int(payload["board_size"]) != board_size:
                raise CheckpointError(f"checkpoint {path}: network is for "
                                      f"{payload['board_size']}x{payload['board_size']} boards")
            return int(payload["step"]), path
        except CheckpointError as e:
            logger.warning("skipping %s", e)
    return None, None


def played_out_games(games_dir, newest):
    """(winner, to_move, resign_value) of the ``newest`` games in ``games_dir`` that were played
    out without the right to resign (``resign_free``), for ``resign_threshold_for``; unreadable
    or older-format files are skipped."""
    names = sorted((f for f in os.listdir(games_dir) if f.endswith(".npz")),
                   key=lambda f: os.path.getmtime(os.path.join(games_dir, f)), reverse=True)
    out = []
    for f in names:
        if len(out) >= newest:
            break
        try:
            with np.load(os.path.join(games_dir, f)) as d:
                if "resign_free" not in d.files or not bool(d["resign_free"]):
                    continue
                to_move, z, values = d["to_move"], d["z"], d["resign_value"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            continue
        won = to_move[z > 0]
        out.append((int(won[0]) if len(won) else 0, to_move, values))
    return out


def _selfplay_job(job, progress=False):
    """One worker's share of a cycle's self-play (top level: it runs in a spawned process)."""
    ckpt, sp, games_dir, n_games, device, step, threads = job
    if n_games <= 0:
        return {"games": 0, "moves": 0, "black_wins": 0, "white_wins": 0, "jigo": 0,
                "resigned": 0, "would_resign": 0, "false_resign": 0}
    if threads:
        torch.set_num_threads(threads)
    s = run_selfplay(ckpt, sp, games_dir, n_games, device=device, network_step=step,
                     progress=progress)
    s.pop("records")
    s.pop("batch_sizes")
    return s


def _exit_with_parent(parent):
    """Initializer of a self-play worker: a daemon thread ends the worker once ``parent`` (the
    loop's pid) is gone, so a loop killed even by SIGKILL leaves no orphan playing on into the
    run directory or waiting forever for work; a game it was writing leaves a temporary file,
    which the next start removes."""
    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def cycle_prefix(cycle):
    return f"c{cycle:04d}-"


class ZeroLoop:
    """The loop over one run directory (see the module docstring)."""

    def __init__(self, run_dir, config, device=None, progress=True):
        self.run = os.fspath(run_dir)
        self.cfg = config
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.progress = progress
        self.games_dir = os.path.join(self.run, "games")
        self.ckpt_dir = os.path.join(self.run, "checkpoints")
        self.logs_dir = os.path.join(self.run, "logs")
        self.best = os.path.join(self.ckpt_dir, "best.pt")
        self._plot_warned = False  # the missing-matplotlib message is given once
        for d in (self.games_dir, self.ckpt_dir, self.logs_dir):
            os.makedirs(d, exist_ok=True)
        for d in (self.run, self.games_dir, self.ckpt_dir, self.logs_dir):
            atomic.remove_stale(d)  # temporaries of a run killed mid-write (no writer runs yet)

    # -- generation 0 and repairs -----------------------------------------------------------
    def ensure_start(self):
        """Generation 0 when the run is new; finish a promotion cut off by a crash."""
        n = self.cfg.board_size
        step, path = newest_readable(self.ckpt_dir, n)
        if step is None:
            init = self.cfg.loop.init_from
            if init:
                model, net, _, _ = load_checkpoint(init, board_size=n)
                if net != self.cfg.net:
                    raise CheckpointError(f"checkpoint {init}: network {net.name} differs from "
                                          f"the run's {self.cfg.net.name}")
                model.train()
                optimizer = make_optimizer(model, self.cfg.train)
            else:
                model, optimizer, _ = resume(self.ckpt_dir, self.cfg.train, self.cfg.net, "cpu")
            path = save_training_checkpoint(self.ckpt_dir, model, optimizer, self.cfg.train, 0)
            logger.info("generation 0: %s %s network saved as %s",
                        f"the weights of {init}," if init else "fresh", self.cfg.net.name, path)
        ledger = gating.read_ledger(self.run)
        if not ledger["generations"]:
            zero = os.path.join(self.ckpt_dir, "step-0.pt")
            ledger = gating.start_ledger(self.run, 0, os.path.relpath(zero, self.run))
        want = ledger["generations"][-1]
        want_path = os.path.join(self.run, want["checkpoint"])
        try:
            have = int(read_payload(self.best)["step"])
        except CheckpointError as e:
            have = None
            if os.path.exists(self.best):
                logger.warning("best network unusable (%s); restoring it from the ledger", e)
        if have != want["step"]:
            atomic.copy_file(want_path, self.best)
            logger.info("best.pt <- %s (generation %d)", want["checkpoint"], want["generation"])
        return ledger

    # -- the three phases -------------------------------------------------------------------
    def resign_threshold(self):
        """Resignation threshold for the next self-play games: with calibration on, the largest
        threshold (at most ``selfplay.resign_threshold``) that would have resigned at most
        ``loop.resign_false_rate`` of the ``loop.resign_window`` newest played-out games
        falsely (the newest: the values of older networks say little about the current one's),
        and 0 (no resignation) until ``loop.resign_min_games`` such games exist."""
        sp, lc = self.cfg.selfplay, self.cfg.loop
        if not lc.resign_calibration or sp.resign_threshold <= 0:
            return sp.resign_threshold
        games = played_out_games(self.games_dir, lc.resign_window)
        if len(games) < lc.resign_min_games:
            return 0.0
        return min(sp.resign_threshold, resign_threshold_for(games, lc.resign_false_rate))

    def selfplay(self, cycle, wanted):
        """Play ``wanted`` more games of ``cycle`` with best.pt, in ``loop.workers`` processes."""
        done = count_games(self.games_dir, cycle_prefix(cycle))
        # a new seed for each restart within a cycle: new names, no game overwritten
        seed = self.cfg.loop.seed * 1_000_003 + cycle * 10_007 + done
        threshold = self.resign_threshold()
        step = int(read_payload(self.best)["step"])
        workers = max(1, min(wanted, self.cfg.loop.workers or os.cpu_count() or 1))
        logger.info("cycle %d: self-play %d games with best.pt (step %d) in %d process%s, %d "
                    "already played, resignation below %.3f", cycle, wanted, step, workers,
                    "es" if workers > 1 else "", done, threshold)
        jobs = []
        for w in range(workers):
            sp = replace(self.cfg.selfplay, seed=seed * 64 + w, name_prefix=f"c{cycle:04d}",
                         resign_threshold=threshold)
            jobs.append((self.best, sp, self.games_dir, wanted // workers + (w < wanted % workers),
                         self.device, step, 1 if workers > 1 else None))
        t0 = time.time()
        if workers == 1:
            summaries = [_selfplay_job(jobs[0], progress=self.progress)]
        else:
            summaries = self._run_workers(jobs, cycle, wanted)
        s = {k: sum(x[k] for x in summaries) for k in ("games", "moves", "black_wins",
                                                       "white_wins", "jigo", "resigned",
                                                       "would_resign", "false_resign")}
        logger.info("cycle %d: %d games, %d moves in %.1f s (B %d / W %d / jigo %d, resigned %d, "
                    "false resignations %d of %d would-be)", cycle, s["games"], s["moves"],
                    time.time() - t0, s["black_wins"], s["white_wins"], s["jigo"], s["resigned"],
                    s["false_resign"], s["would_resign"])

    def _run_workers(self, jobs, cycle, wanted):
        """Run self-play jobs in spawned processes (a torch/Numba state each), showing progress
        from the finished game files; a failed worker stops the cycle with its error."""
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, wait
        prefix = cycle_prefix(cycle)
        start = count_games(self.games_dir, prefix)
        bar = None
        if self.progress:
            from tqdm import tqdm
            bar = tqdm(total=wanted, desc=f"self-play c{cycle}", unit="game", dynamic_ncols=True)
        with ProcessPoolExecutor(len(jobs), mp_context=mp.get_context("spawn"),
                                 initializer=_exit_with_parent, initargs=(os.getpid(),)) as pool:
            futures = [pool.submit(_selfplay_job, job) for job in jobs]
            pending = set(futures)
            while pending:
                _, pending = wait(pending, timeout=2.0)
                if bar is not None:
                    bar.n = count_games(self.games_dir, prefix) - start
                    bar.refresh()
            if bar is not None:
                bar.close()
            return [f.result() for f in futures]

    def train(self, target_step):
        """Train from the newest readable checkpoint up to ``target_step``; returns metrics."""
        tc, n = self.cfg.train, self.cfg.board_size
        model, optimizer, step = resume(self.ckpt_dir, tc, self.cfg.net, self.device)
        replay = ReplayWindow(self.games_dir, tc.window_games, n)
        replay.refresh()
        if replay.positions == 0:
            raise RuntimeError(f"{self.games_dir}: no readable games to train on")
        logger.info("training from step %d to %d on %d games, %d positions", step, target_step,
                    len(replay.games), replay.positions)
        log = MetricsLog(self.logs_dir)
        bar = None
        if self.progress:
            from tqdm import tqdm
            bar = tqdm(total=target_step - step, desc=f"train {step}->{target_step}", unit="step")
        try:
            metrics = train_steps(model, optimizer, replay, tc, target_step - step, step,
                                  log=log, checkpoint_dir=self.ckpt_dir, progress=bar)
        finally:
            if bar is not None:
                bar.close()
            log.close()
        if target_step % tc.steps_per_generation:
            save_training_checkpoint(self.ckpt_dir, model, optimizer, tc, target_step)
        logger.info("trained to step %d: loss %.4f (value %.4f, policy %.4f, acc %.3f)",
                    metrics["step"], metrics.get("loss", 0.0), metrics.get("value_loss", 0.0),
                    metrics.get("policy_loss", 0.0), metrics.get("policy_acc", 0.0))
        return metrics

    def gate(self, cycle, cand_path):
        """Gate ``cand_path`` against best.pt, record it, promote; returns the result."""
        sgf_dir = os.path.join(self.logs_dir, f"gate-c{cycle:04d}")
        res = gating.gate_with(self.cfg.gate, cand_path, self.best, self.cfg.board_size,
                               self.cfg.selfplay.komi, seed=self.cfg.loop.seed * 1_000_003 + cycle,
                               device=self.device, sgf_dir=sgf_dir, progress=self.progress,
                               lanes=(default_lanes(self.cfg.loop.workers, self.device)
                                      if torch.device(self.device).type == "cpu" else 1))
        res["cycle"] = cycle
        res["candidate"] = os.path.relpath(cand_path, self.run)
        res["best"] = os.path.relpath(self.best, self.run)
        # ledger first: a crash before the copy is repaired from it at the next start
        ledger = gating.record_gate(self.run, res, checkpoint=res["candidate"])
        elo = _fmt(res["elo"], "-inf" if res["score"] < 0.5 else "+inf")  # 0% or 100%
        logger.info("cycle %d: step %d vs best step %d: +%d =%d -%d, score %.3f, Elo %s "
                    "[%s, %s] -> %s", cycle, res["candidate_step"], res["best_step"], res["wins"],
                    res["draws"], res["losses"], res["score"], elo,
                    _fmt(res["elo_low"], "-inf"), _fmt(res["elo_high"], "+inf"),
                    "promoted" if res["promoted"] else "kept best")
        gate_log = {"score": res["score"], "promoted": float(res["promoted"])}
        if res["promoted"]:
            atomic.copy_file(cand_path, self.best)
            g = ledger["generations"][-1]
            logger.info("generation %d: step %d, Elo %+.0f relative to generation 0",
                        g["generation"], g["step"], g["elo"])
        gate_log["best_elo"] = ledger["generations"][-1]["elo"]  # Elo of the best network now
        log = MetricsLog(self.logs_dir, prefix="gate", jsonl="gate.jsonl")
        try:
            log(res["candidate_step"], gate_log)
        finally:
            log.close()
        return res

    # -- the loop ---------------------------------------------------------------------------
    def budget_left(self, cycle, t0):
        """None when the loop may go on, else the reason to stop."""
        lc = self.cfg.loop
        if lc.max_generations and cycle >= lc.max_generations:
            return f"{cycle} generations reached (--max-generations {lc.max_generations})"
        if lc.max_games and count_games(self.games_dir) >= lc.max_games:
            return f"{count_games(self.games_dir)} games reached (--max-games {lc.max_games})"
        if lc.max_hours and time.time() - t0 >= lc.max_hours * 3600:
            return f"{lc.max_hours} hours reached (--max-hours)"
        return None

    def run_loop(self):
        """Run cycles until the budget is spent; returns the reason it stopped."""
        t0 = time.time()
        self.ensure_start()
        lc, spg = self.cfg.loop, self.cfg.train.steps_per_generation
        while True:
            cycle = len(gating.read_ledger(self.run)["gates"])
            why = self.budget_left(cycle, t0)
            if why:
                break
            done = count_games(self.games_dir, cycle_prefix(cycle))
            wanted = lc.games_per_generation - done
            if lc.max_games:
                wanted = min(wanted, lc.max_games - count_games(self.games_dir))
            if wanted > 0:
                self.selfplay(cycle, wanted)
                if count_games(self.games_dir, cycle_prefix(cycle)) < lc.games_per_generation:
                    continue  # the game budget cut the cycle short; the check above stops
            target = (cycle + 1) * spg
            step, path = newest_readable(self.ckpt_dir, self.cfg.board_size)
            if step is None or step < target:
                self.train(target)
                step, path = newest_readable(self.ckpt_dir, self.cfg.board_size)
            self.gate(cycle, path)
            self.plot()
        logger.info("stopping: %s", why)
        self.plot()
        return why

    def plot(self):
        """``logs/progress.png``: Elo per generation and training losses."""
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            if not self._plot_warned:
                logger.info("matplotlib is not installed: no logs/progress.png")
                self._plot_warned = True
            return None
        ledger = gating.read_ledger(self.run)
        rows = []
        path = os.path.join(self.logs_dir, "train.jsonl")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass  # a line cut off by a kill
        fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
        gens = ledger["generations"]
        a.plot([g["generation"] for g in gens], [g["elo"] for g in gens], "o-")
        a.set_xlabel("generation")
        a.set_ylabel("Elo relative to generation 0")
        for key in ("loss", "value_loss", "policy_loss"):
            pts = [(r["step"], r[key]) for r in rows if key in r]
            if pts:
                b.plot(*zip(*pts), label=key)
        b.set_xlabel("training step")
        b.legend()
        fig.tight_layout()
        out = os.path.join(self.logs_dir, "progress.png")
        with atomic.atomic_file(out, "wb") as f:
            fig.savefig(f, format="png")
        plt.close(fig)
        return out


def _fmt(x, infinite):
    """An Elo for the log; ``infinite`` stands for None (the JSON form of an infinite one)."""
    return infinite if x is None else f"{x:+.0f}"


# ---------------------------------------------------------------------------------------------
# Command line

# flag -> (section, field): settings fixed when the run starts
_FLAGS = {
    "size": None, "net": None,
    "komi": ("selfplay", "komi"), "visits": ("selfplay", "visits"),
    "parallel": ("selfplay", "parallel_games"), "leaf_batch": ("selfplay", "leaf_batch"),
    "max_moves": ("selfplay", "max_moves"),
    "full_search_prob": ("selfplay", "full_search_prob"),
    "cheap_visits": ("selfplay", "cheap_visits"),
    "resign_threshold": ("selfplay", "resign_threshold"),
    "temperature_moves": ("selfplay", "temperature_moves"),
    "precision": ("selfplay", "precision"),
    "steps_per_gen": ("train", "steps_per_generation"), "batch_size": ("train", "batch_size"),
    "window_games": ("train", "window_games"),
    "gate_games": ("gate", "games"), "gate_visits": ("gate", "visits"),
    "gate_threshold": ("gate", "threshold"), "gate_parallel": ("gate", "parallel_games"),
    "gate_precision": ("gate", "precision"),
    "games_per_gen": ("loop", "games_per_generation"), "seed": ("loop", "seed"),
}
# flags that may change on a resume: the budget and the machine's share
_BUDGET = {"max_games": "max_games", "max_hours": "max_hours",
           "max_generations": "max_generations", "workers": "workers"}


def _init_net(args):
    """The network config of ``--init``'s checkpoint, checked against --size / --net /
    --ownership / --global-pooling where those are given."""
    try:
        payload = read_payload(args.init)
        net = NetConfig.from_dict(payload["net_config"])
    except (CheckpointError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"--init: {e}") from None
    if args.size is not None and args.size != net.board_size:
        raise ValueError(f"--init {args.init} is a {net.board_size}x{net.board_size} network, "
                         f"--size {args.size} given")
    if args.net is not None and NetConfig.from_name(args.net, net.board_size).name != net.name:
        raise ValueError(f"--init {args.init} is a {net.name} network, --net {args.net} given")
    for flag in ("ownership", "global_pooling"):
        if getattr(args, flag) and not getattr(net, flag):
            raise ValueError(f"--init {args.init} has no --{flag.replace('_', '-')}")
    return net


def _build_config(args):
    """ZeroConfig of a first start from the flags."""
    if args.init is not None:
        net = _init_net(args)
    elif args.size is None or args.net is None:
        raise ValueError("a new run needs --size and --net (or --init CHECKPOINT)")
    else:
        net = NetConfig.from_name(args.net, board_size=args.size, ownership=args.ownership,
                                  global_pooling=args.global_pooling)
    sections = {"train": {}, "selfplay": {"board_size": net.board_size}, "gate": {},
                "loop": {"init_from": args.init or ""}}
    for flag, where in list(_FLAGS.items()) + [(k, ("loop", v)) for k, v in _BUDGET.items()]:
        value = getattr(args, flag)
        if where is not None and value is not None:
            sections[where[0]][where[1]] = value
    return ZeroConfig(net=net, train=TrainConfig.from_dict(sections["train"]),
                      selfplay=SelfPlayConfig(**sections["selfplay"]),
                      gate=GateConfig(**sections["gate"]), loop=LoopConfig(**sections["loop"]))


def _resume_config(stored, args):
    """The stored config with the budget flags applied; other flags must agree with it."""
    current = stored.to_dict()
    if args.init is not None and args.init != stored.loop.init_from:
        raise ValueError(f"--init is for a new run; this run started from "
                         f"{stored.loop.init_from or 'random weights'}")
    if args.size is not None and args.size != stored.board_size:
        raise ValueError(f"the run is on {stored.board_size}x{stored.board_size}, --size "
                         f"{args.size} given")
    if args.net is not None and NetConfig.from_name(args.net, stored.board_size).name != stored.net.name:
        raise ValueError(f"the run's network is {stored.net.name}, --net {args.net} given")
    for flag in ("ownership", "global_pooling"):
        if getattr(args, flag) and not getattr(stored.net, flag):
            raise ValueError(f"the run's network was started without --{flag.replace('_', '-')}")
    for flag, where in _FLAGS.items():
        value = getattr(args, flag)
        if where is None or value is None:
            continue
        if current[where[0]][where[1]] != value:
            raise ValueError(f"--{flag.replace('_', '-')} {value} differs from the run's "
                             f"{where[0]}.{where[1]} = {current[where[0]][where[1]]} "
                             f"(edit config.json to change it)")
    budget = {f: getattr(args, k) for k, f in _BUDGET.items() if getattr(args, k) is not None}
    return replace(stored, loop=replace(stored.loop, **budget)) if budget else stored


def _setup_logging(logs_dir):
    os.makedirs(logs_dir, exist_ok=True)
    logger.setLevel(logging.INFO)
    logger.handlers.clear()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    fh = logging.FileHandler(os.path.join(logs_dir, "zero.log"), encoding="utf-8")
    fh.setFormatter(fmt)
    sh = logging.StreamHandler(sys.stderr)
    sh.setFormatter(fmt)
    logger.addHandler(fh)
    logger.addHandler(sh)
    logger.propagate = False


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m selfplay.zero",
                                 description="AlphaGo Zero loop: self-play, train, gate, promote.")
    ap.add_argument("--run", required=True, help="run directory, e.g. runs/zero9")
    ap.add_argument("--size", type=int, help="board size (first start)")
    ap.add_argument("--net", help="network size, e.g. b6c64 (first start)")
    ap.add_argument("--init", metavar="CHECKPOINT",
                    help="generation 0 is this network instead of random weights, e.g. "
                         "nets/weights/zero-9x9-b4c32.pt (first start; size and network from it)")
    ap.add_argument("--komi", type=float)
    ap.add_argument("--games-per-gen", type=int, help="self-play games per generation")
    ap.add_argument("--steps-per-gen", type=int, help="training steps per generation")
    ap.add_argument("--gate-games", type=int, help="games of each gating match")
    ap.add_argument("--gate-visits", type=int, help="simulations per move in gating")
    ap.add_argument("--gate-threshold", type=float, help="score needed to promote")
    ap.add_argument("--gate-parallel", type=int, help="gating games at once in each lane")
    ap.add_argument("--gate-precision", choices=PRECISIONS,
                    help="gating forward passes, both networks alike (default fp32)")
    ap.add_argument("--visits", type=int, help="simulations per self-play move")
    ap.add_argument("--parallel", type=int, help="self-play games at once")
    ap.add_argument("--leaf-batch", type=int, help="leaves per game per network call")
    ap.add_argument("--max-moves", type=int, help="move cap of a self-play game")
    ap.add_argument("--full-search-prob", type=float,
                    help="playout cap: share of moves with a full search (1 = all; KataGo: 0.25)")
    ap.add_argument("--cheap-visits", type=int,
                    help="simulations of the cheap searches (playout cap)")
    ap.add_argument("--resign-threshold", type=float,
                    help="resign below this win probability; the upper bound of the calibrated "
                         "threshold (0 = never resign)")
    ap.add_argument("--temperature-moves", type=int,
                    help="opening moves played by visit share (temperature 1)")
    ap.add_argument("--ownership", action="store_true",
                    help="network with the auxiliary ownership head (first start)")
    ap.add_argument("--global-pooling", action="store_true",
                    help="network with global-pooling biases (first start)")
    ap.add_argument("--workers", type=int,
                    help="self-play processes and gating lanes (default: one per CPU core; may "
                         "change on resume)")
    ap.add_argument("--batch-size", type=int, help="training batch size")
    ap.add_argument("--window-games", type=int, help="replay window in games")
    ap.add_argument("--precision", choices=PRECISIONS,
                    help="self-play forward passes: bf16 is 2.5-3x faster on CPUs/GPUs with "
                         "native bf16; auto uses it there (default fp32)")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--max-hours", type=float, help="stop after this many hours")
    ap.add_argument("--max-games", type=int, help="stop once this many games exist")
    ap.add_argument("--max-generations", type=int, help="stop after this many generations")
    ap.add_argument("--device", default=None, help="torch device (default: cuda if available)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        stored = load_config(args.run)
        if stored is None:
            config = _build_config(args)
            save_config(args.run, config)
        else:
            config = _resume_config(stored, args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    _setup_logging(os.path.join(args.run, "logs"))
    logger.info("%s %s: run %s, %s %dx%d", "starting" if stored is None else "resuming",
                " ".join(sys.argv[1:] if argv is None else argv), args.run, config.net.name,
                config.board_size, config.board_size)
    loop = ZeroLoop(args.run, config, device=args.device, progress=not args.no_progress)
    try:
        loop.run_loop()
    except KeyboardInterrupt:
        logger.info("interrupted; run the same command again to resume")
        return 130
    except (ValueError, OSError, RuntimeError) as e:
        logger.error("%s", e)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
