"""Training the AlphaGo Lee networks: the SL policy from game records, the value net from
positions with known outcomes; and export of a trained network for play.

    python -m nets.train_lee sl DATA_DIR --run RUN_DIR --net l13k192 [--steps S] [--batch 128]
        [--lr 0.01]
    python -m nets.train_lee value DATA_DIR --run RUN_DIR --net l13k192 [--steps S] ...
    python -m nets.train_lee export RUN_DIR --out FILE [--checkpoint PATH]

SL policy (``sl``)
------------------
DATA_DIR holds ``train/`` and ``heldout/`` shards of ``nets.sgf_data`` (games of strong
players). Each step draws ``batch_size`` positions uniformly over every non-pass move of the
training games (``sample_positions``), one of the 8 board symmetries per position, builds the
48 planes (``nets.lee_features.planes_for_samples``) and takes one SGD step on the
cross-entropy between the policy's softmax and the move played (the paper maximises its log
likelihood). Every ``eval_every`` steps and at the end, top-1 accuracy and loss on a fixed set
of ``eval_positions`` held-out positions (identity symmetry) go to the log; an empty heldout/
(a small collection) trains without them (``load_data``).

Value net (``value``)
---------------------
DATA_DIR holds ``train/`` and ``heldout/`` value shards (``save_value_shard``): a GameSet in the
shard format plus, per game, ``sample_idx`` (the position before that move index is the sample;
a move must follow it) and ``z`` (+1 if the player to move there won, -1 lost, 0 a draw). One
position per game, as in the paper, so the net cannot memorise whole games. Each step draws
``batch_size`` games, builds their 49 planes (with the colour to play) under random symmetries
and takes an SGD step on the squared error (z - v)^2. Evaluation reports the MSE on fixed
subsets of the training and of the held-out positions: the gap between them is the paper's
measure of over-fitting.

Optimisation (``LeeTrainConfig``)
---------------------------------
The paper trains with plain SGD, lr 0.003 halved every 80M steps, batches of 16 (SL) or 32
(value), on 50 GPUs for weeks. At the scale of one machine the defaults are batches of 128 with
momentum 0.9 and lr 0.01 (an effective step about 0.1, the paper's per-sample step times the
larger batch, as SGD scales), halved every 100,000 steps, weight decay 1e-4 (a little
regularisation for data sets far smaller than the paper's 29.4M positions).

Runs and resuming
-----------------
``RUN_DIR/config.json`` records the command, the network, the training config and the data
directory; it is written on the first start and read on every later one: the config is taken
from it (edit it to change a setting), and a command-line value that differs from it is refused.
``--steps S`` is the step count to reach in all, so after a kill the same command continues
from the newest readable checkpoint (``RUN_DIR/checkpoints/step-<k>.pt``, written atomically
every ``checkpoint_every`` steps, the newest ``keep_checkpoints`` kept) to step S. Batches are
drawn from a Generator seeded with (seed, step): a resumed run sees exactly the batches an
uninterrupted one would have. Metrics go to ``RUN_DIR/logs/train.jsonl`` and TensorBoard
(``nets.train.MetricsLog``); Ctrl-C saves a checkpoint before stopping.

``export`` writes the newest (or a given) checkpoint without its optimizer state: the file a
player reads with ``load_policy`` / ``load_value`` (``nets.lee``).
"""
import argparse
import collections
import json
import os
import sys
import time
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from engine import atomic
from engine.config import Config, check, not_negative, positive
from nets.checkpoint import CheckpointError
from nets.heap import keep_heap_mapped
from nets import lee
from nets.lee import (POLICY_KIND, VALUE_KIND, PolicyConfig, ValueConfig, build, load_network,
                      save_network)
from nets.train import MetricsLog, checkpoint_name, list_checkpoints, sgd_step

load_policy = lee.load_policy  # (PolicyNet in eval mode, PolicyConfig) from a file, for players
load_value = lee.load_value  # (ValueNet in eval mode, ValueConfig) from a file, for players

COMMANDS = {"sl": (PolicyConfig, POLICY_KIND), "value": (ValueConfig, VALUE_KIND)}


VALUE_LR = 0.002  # the value net's default initial learning rate (the SL policy's is 0.01)


@dataclass(frozen=True)
class LeeTrainConfig(Config):
    """Optimisation and bookkeeping of one SL-policy or value-net run (paper values in
    comments)."""
    batch_size: int = 128  # positions per SGD step (paper: 16 SL, 32 value)
    lr: float = 0.01  # initial learning rate (paper: 0.003 without momentum)
    lr_halve_every: int = 100_000  # steps between halvings of the lr (paper: 80M)
    momentum: float = 0.9  # SGD momentum (paper: none)
    weight_decay: float = 1e-4  # L2 on every weight (paper: none stated)
    checkpoint_every: int = 1000  # steps between checkpoints
    keep_checkpoints: int = 5  # newest checkpoints kept on disk
    eval_every: int = 1000  # steps between evaluations on the fixed held-out set
    eval_positions: int = 2048  # size of the fixed evaluation sets
    log_every: int = 20  # steps between training-metric log lines
    seed: int = 0  # seeds network initialisation, batches and the evaluation sets

    WHAT = "training config"  # class constant, not a field: "unknown training config fields"

    def __post_init__(self):
        check(type(self).__name__, [
            *positive(self, "batch_size", "lr", "lr_halve_every", "checkpoint_every",
                      "keep_checkpoints", "eval_every", "eval_positions", "log_every"),
            (0.0 <= self.momentum < 1.0, "momentum must be in [0, 1)"),
            *not_negative(self, "weight_decay"),
        ])


def lr_at(config, step):
    """The learning rate at ``step``: halved every ``lr_halve_every`` steps."""
    return config.lr * 0.5 ** (step // config.lr_halve_every)


def make_optimizer(model, config):
    return torch.optim.SGD(model.parameters(), lr=lr_at(config, 0), momentum=config.momentum,
                           weight_decay=config.weight_decay)


# ---------------------------------------------------------------------------------------------
# Data

VALUE_ARRAYS = ("sample_idx", "z")  # the arrays a value shard adds to the shard format


def save_value_shard(path, gs, sample_idx, z, **extra):
    """Write a value shard atomically: the GameSet ``gs`` in the shard format of
    ``nets.sgf_data`` plus ``sample_idx`` int64[G] (each game's sample is the position before
    that move index), ``z`` float32[G] (the target for the player to move there: the game's
    outcome, or ``selfplay.lee_value_targets``'s blend) and any ``extra`` arrays, which the
    loader ignores."""
    sample_idx = np.asarray(sample_idx, dtype=np.int64)
    z = np.asarray(z, dtype=np.float32)
    _check_value_arrays(gs, sample_idx, z, path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic.atomic_file(path, "wb") as f:  # a file object: savez adds no ".npz" to the name
        np.savez_compressed(f, **gs.arrays(), sample_idx=sample_idx, z=z, **extra)


def _check_value_arrays(gs, sample_idx, z, where):
    g = len(gs.offsets) - 1
    if sample_idx.shape != (g,) or z.shape != (g,):
        raise ValueError(f"{where}: sample_idx and z need one entry per game ({g}), got "
                         f"shapes {sample_idx.shape} and {z.shape}")
    length = np.diff(gs.offsets)
    bad = np.flatnonzero((sample_idx < 0) | (sample_idx >= length))
    if len(bad):
        i = int(bad[0])
        raise ValueError(f"{where}: game {i} has {int(length[i])} moves, sample_idx "
                         f"{int(sample_idx[i])} is not the index of one of them")
    if not np.all(np.isfinite(z)) or np.any(np.abs(z) > 1):
        raise ValueError(f"{where}: z must lie in [-1, 1]")


def load_value_shards(folder):
    """(GameSet, sample_idx int64[G], z float32[G]) of every value shard in ``folder`` (or a
    list of shard files); ``ShardError`` naming the file when one is unreadable."""
    from nets.sgf_data import GameSet, ShardError, load_shard, shard_paths
    sets, idx, zs = [], [], []
    for path in shard_paths(folder):
        gs = load_shard(path)
        try:
            with np.load(path, allow_pickle=False) as f:
                missing = [k for k in VALUE_ARRAYS if k not in f.files]
                if missing:
                    raise ValueError(f"missing arrays {', '.join(missing)} (not a value shard)")
                sample_idx, z = f["sample_idx"].astype(np.int64), f["z"].astype(np.float32)
            _check_value_arrays(gs, sample_idx, z, path)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as e:
            raise ShardError(f"value shard {path}: {e}") from None
        if sets and gs.size != sets[0].size:
            raise ShardError(f"mixed board sizes: {path} holds {gs.size}x{gs.size} games, "
                             f"the shards before it {sets[0].size}x{sets[0].size}")
        sets.append(gs)
        idx.append(sample_idx)
        zs.append(z)
    return GameSet.concat(sets), np.concatenate(idx), np.concatenate(zs)


class PolicyData:
    """SL positions of a GameSet: ``sample`` draws (games, move_idx, syms), ``batch`` builds
    their planes float32[B, 48, N, N] and targets int64[B] (the move played, row*N+col)."""

    def __init__(self, gs):
        from nets.lee_features import LEE_PLANES
        self.gs = gs  # the games (shard format)
        self.n = int(gs.size)  # board size N
        self.planes = LEE_PLANES  # input planes per position
        self.count = gs.num_positions  # positions: moves that are not passes

    def sample(self, count, rng, augment=True):
        from nets.sgf_data import sample_positions
        games, move_idx = sample_positions(self.gs, count, rng)
        syms = rng.integers(0, 8, size=count) if augment else np.zeros(count, np.int64)
        return games, move_idx, syms.astype(np.int64)

    def batch(self, games, move_idx, syms):
        from nets.lee_features import planes_for_samples
        gs, b = self.gs, len(games)
        out = np.zeros((b, self.planes, self.n, self.n), np.float32)  # [B, 48, N, N]
        targets = np.zeros(b, np.int64)  # [B] action of the move played
        planes_for_samples(self.n, gs.offsets, gs.moves, gs.colors, gs.setup_offsets,
                           gs.setup_points, gs.setup_colors, games, move_idx, syms, False, out,
                           targets)
        return out, targets


class ValueData:
    """Value positions, one per game: ``sample`` draws (games, move_idx, syms), ``batch`` builds
    planes float32[B, 49, N, N] and outcomes z float32[B]."""

    def __init__(self, gs, sample_idx, z):
        from nets.lee_features import VALUE_PLANES
        self.gs = gs  # the games (shard format)
        self.sample_idx = sample_idx  # int64[G]: move index of each game's sampled position
        self.z = z  # float32[G]: outcome for the player to move there
        self.n = int(gs.size)  # board size N
        self.planes = VALUE_PLANES  # input planes per position
        self.count = len(z)  # positions

    def sample(self, count, rng, augment=True):
        games = rng.integers(0, self.count, size=count).astype(np.int64)
        syms = rng.integers(0, 8, size=count) if augment else np.zeros(count, np.int64)
        return games, self.sample_idx[games], syms.astype(np.int64)

    def fixed(self, count, rng):
        """Distinct positions (all of them when there are at most ``count``), identity
        symmetry."""
        games = np.arange(self.count, dtype=np.int64)
        if self.count > count:
            games = np.sort(rng.choice(self.count, size=count, replace=False)).astype(np.int64)
        return games, self.sample_idx[games], np.zeros(len(games), np.int64)

    def batch(self, games, move_idx, syms):
        from nets.lee_features import planes_for_samples
        gs, b = self.gs, len(games)
        out = np.zeros((b, self.planes, self.n, self.n), np.float32)  # [B, 49, N, N]
        targets = np.zeros(b, np.int64)  # unused: the move that followed
        planes_for_samples(self.n, gs.offsets, gs.moves, gs.colors, gs.setup_offsets,
                           gs.setup_points, gs.setup_colors, games, move_idx, syms, True, out,
                           targets)
        return out, self.z[games]


def make_batch(data, seed, step, batch_size):
    """(planes, targets) of training step ``step``: drawn from a Generator seeded with (seed,
    step), so the batch of a step never depends on how the run got there."""
    rng = np.random.default_rng((seed, step))
    return data.batch(*data.sample(batch_size, rng))


_WORKER_DATA = None  # the training data inside a batch-building worker process


def _worker_init(data):
    global _WORKER_DATA
    _WORKER_DATA = data


def _worker_batch(seed, step, batch_size):
    return make_batch(_WORKER_DATA, seed, step, batch_size)


class BatchStream:
    """The batches of steps ``start``, ``start + 1``, ... in order. With ``workers`` > 0 they
    are built ahead (at most 2 per worker waiting) in worker processes, which get a copy of
    the data once: building 48 planes replays each game from its start and reads ladders, and
    on 19x19 costs more than the network's step on a GPU."""

    def __init__(self, data, seed, batch_size, start, workers=0):
        self.data, self.seed, self.batch_size = data, seed, batch_size
        self.next_step = start  # step of the batch ``next`` returns
        self.pool = None
        self.pending = collections.deque()  # AsyncResults of the steps after next_step
        if workers > 0:
            import multiprocessing as mp
            self.pool = mp.get_context("spawn").Pool(workers, _worker_init, (data,))
            self.ahead = 2 * workers  # batches in flight

    def next(self):
        step = self.next_step
        self.next_step += 1
        if self.pool is None:
            return make_batch(self.data, self.seed, step, self.batch_size)
        queued = step + len(self.pending)
        while len(self.pending) < self.ahead:
            self.pending.append(self.pool.apply_async(_worker_batch,
                                                      (self.seed, queued, self.batch_size)))
            queued += 1
        return self.pending.popleft().get()

    def close(self):
        """Collects the batches still in flight, then lets the workers exit. Terminating a
        pool while a worker is writing a batch can leave the pool's result reader blocked for
        ever on the half-written message, so the pool is closed only once nothing is in
        flight (terminated only if a worker stops answering)."""
        if self.pool is not None:
            for result in self.pending:
                result.wait(120)
            stuck = not all(result.ready() for result in self.pending)
            self.pending.clear()
            if stuck:
                self.pool.terminate()
            else:
                self.pool.close()
            self.pool.join()
            self.pool = None


def _fixed_set(data, count, seed, which):
    """A fixed evaluation set of ``data`` (same for every evaluation and every resume)."""
    rng = np.random.default_rng((seed, 7919, which))
    if isinstance(data, ValueData):
        return data.fixed(count, rng)
    return data.sample(count, rng, augment=False)


# ---------------------------------------------------------------------------------------------
# Steps and evaluation

def batch_loss(model, planes, targets):
    """(loss tensor, metrics) of one batch: cross-entropy and top-1 accuracy for a policy,
    squared error for a value net."""
    out = model(planes)
    if isinstance(model.config, ValueConfig):
        loss = F.mse_loss(out, targets)
        return loss, {"mse": loss.item()}
    loss = F.cross_entropy(out, targets)
    acc = (out.argmax(dim=1) == targets).float().mean().item()
    return loss, {"loss": loss.item(), "acc": acc}


def evaluate(model, data, positions, batch_size, device):
    """Mean metrics of ``model`` (eval mode, no gradients) over ``positions`` = (games,
    move_idx, syms) of ``data``."""
    games, move_idx, syms = positions
    was_training = model.training
    model.eval()
    sums, total = {}, 0
    with torch.no_grad():
        for i in range(0, len(games), batch_size):
            sl = slice(i, i + batch_size)
            planes, targets = data.batch(games[sl], move_idx[sl], syms[sl])
            _, m = batch_loss(model, torch.from_numpy(planes).to(device),
                              torch.from_numpy(targets).to(device))
            for k, v in m.items():
                sums[k] = sums.get(k, 0.0) + v * len(planes)
            total += len(planes)
    model.train(was_training)
    return {k: v / max(total, 1) for k, v in sums.items()}


def save_training_checkpoint(ckpt_dir, model, optimizer, config, step, keep):
    """Atomic ``ckpt_dir/step-<step>.pt`` with the optimizer state; older files beyond the
    newest ``keep`` are removed."""
    os.makedirs(ckpt_dir, exist_ok=True)
    path = os.path.join(ckpt_dir, checkpoint_name(step))
    save_network(path, model, model.config, step, optimizer=optimizer,
                 extra={"train_config": config.to_dict()})
    for _, old in list_checkpoints(ckpt_dir)[keep:]:
        os.remove(old)
    return path


def resume(ckpt_dir, net_config, config, device="cpu"):
    """(model in train mode, optimizer, step) from the newest readable checkpoint of
    ``ckpt_dir`` (unreadable ones skipped with a message); a fresh network seeded from
    ``config.seed`` at step 0 when there is none."""
    for _, path in list_checkpoints(ckpt_dir):
        try:
            model, cfg, step, payload = load_network(path, net_config.KIND,
                                                     net_config.board_size, device)
        except CheckpointError as e:
            print(f"resume: skipping {e}", file=sys.stderr)
            continue
        if cfg != net_config:
            raise CheckpointError(f"checkpoint {path}: network {cfg} differs from the run's "
                                  f"{net_config}")
        model.train()
        optimizer = make_optimizer(model, config)
        if payload.get("optimizer") is not None:
            optimizer.load_state_dict(payload["optimizer"])
        return model, optimizer, step
    torch.manual_seed(config.seed)
    model = build(net_config).to(device).train()
    return model, make_optimizer(model, config), 0


def train(model, optimizer, data, config, start, end, device="cpu", heldout=None,
          ckpt_dir=None, log=None, progress=None, workers=0):
    """SGD steps ``start`` .. ``end`` on ``data`` (PolicyData or ValueData) -> the last
    evaluation's metrics (``heldout_*``, and ``train_*`` for a value net) plus ``step``.
    Evaluates every ``eval_every`` steps and at ``end``; checkpoints every ``checkpoint_every``
    steps and at ``end`` when ``ckpt_dir`` is given; Ctrl-C checkpoints and re-raises."""
    is_value = isinstance(model.config, ValueConfig)
    evals = []
    if heldout is not None:
        evals.append(("heldout", heldout, _fixed_set(heldout, config.eval_positions,
                                                     config.seed, 1)))
    if is_value:  # the train / held-out gap shows over-fitting
        evals.append(("train", data, _fixed_set(data, config.eval_positions, config.seed, 0)))

    def run_evals(step):
        out = {}
        for name, d, positions in evals:
            for k, v in evaluate(model, d, positions, config.batch_size, device).items():
                out[f"{name}_{k}"] = v
        if out and log is not None:
            log(step, out)
        return out

    if torch.device(device).type == "cpu":
        keep_heap_mapped()
    model.train()
    step = start
    sums, count, t_data, t_net = {}, 0, 0.0, 0.0
    stream = BatchStream(data, config.seed, config.batch_size, start, workers)
    try:
        while step < end:
            lr = lr_at(config, step)
            t0 = time.perf_counter()
            planes, targets = stream.next()
            t1 = time.perf_counter()
            loss, m = batch_loss(model, torch.from_numpy(planes).to(device),
                                 torch.from_numpy(targets).to(device))
            sgd_step(optimizer, loss, lr, step)
            step += 1
            t_data += t1 - t0
            t_net += time.perf_counter() - t1
            for k, v in m.items():
                sums[k] = sums.get(k, 0.0) + v
            count += 1
            if step % config.log_every == 0 and log is not None:
                log(step, {**{k: v / count for k, v in sums.items()}, "lr": lr,
                           "data_s": t_data / count, "net_s": t_net / count})
                sums, count, t_data, t_net = {}, 0, 0.0, 0.0
            if step % config.eval_every == 0 and step < end:
                run_evals(step)
            if ckpt_dir is not None and step % config.checkpoint_every == 0:
                save_training_checkpoint(ckpt_dir, model, optimizer, config, step,
                                         config.keep_checkpoints)
            if progress is not None:
                progress.update(1)
                progress.set_postfix({k: f"{v:.3f}" for k, v in m.items()})
    except KeyboardInterrupt:
        if ckpt_dir is not None and step > start:
            save_training_checkpoint(ckpt_dir, model, optimizer, config, step,
                                     config.keep_checkpoints)
        raise
    finally:
        stream.close()
    if count and log is not None:  # the steps since the last log line
        log(step, {**{k: v / count for k, v in sums.items()}, "lr": lr_at(config, step - 1),
                   "data_s": t_data / count, "net_s": t_net / count})
    if ckpt_dir is not None and step % config.checkpoint_every:
        save_training_checkpoint(ckpt_dir, model, optimizer, config, step,
                                 config.keep_checkpoints)
    last = run_evals(step)
    return {**last, "step": step}


# ---------------------------------------------------------------------------------------------
# Run directories

def run_config(run_dir, command, data_dir, board_size, net=None, overrides=None):
    """(network config, LeeTrainConfig) of the run in ``run_dir``: from its config.json, or on a
    first start from ``net`` (a size name), ``board_size`` (the data's) and ``overrides``
    (LeeTrainConfig fields), written to config.json. Refuses a run of another command, a
    network or board size other than the stored one, and overrides that differ from it."""
    config_cls, _ = COMMANDS[command]
    path = os.path.join(run_dir, "config.json")
    data = atomic.read_json_object(path)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if data:
        if data.get("command") != command:
            raise SystemExit(f"{run_dir} is a {data.get('command')!r} run, not {command!r}")
        try:
            net_config = config_cls.from_dict(data["net"])
            train_config = LeeTrainConfig.from_dict(data.get("train", {}))
        except (KeyError, TypeError, ValueError) as e:
            raise SystemExit(f"{path}: {e}")
        if net is not None and net.strip().lower() != net_config.name:
            raise SystemExit(f"{run_dir}: the run's network is {net_config.name}, --net {net} "
                             f"given")
        if board_size != net_config.board_size:
            raise SystemExit(f"{run_dir}: the run's network is for {net_config.board_size}x"
                             f"{net_config.board_size}, the data are {board_size}x{board_size}")
        for k, v in overrides.items():
            if getattr(train_config, k) != v:
                raise SystemExit(f"{run_dir}: the run has {k} = {getattr(train_config, k)}, "
                                 f"{v} given; edit {path} to change it")
        if os.path.abspath(data_dir) != data.get("data"):
            print(f"note: {run_dir} was started on {data.get('data')}, now training on "
                  f"{os.path.abspath(data_dir)}", file=sys.stderr)
        return net_config, train_config
    if net is None:
        raise SystemExit(f"{run_dir} holds no run yet: give --net (e.g. l13k192) for the first "
                         f"start")
    try:
        net_config = config_cls.from_name(net, board_size=board_size)
        if command == "value":  # at 0.01 a value net can settle on a constant output
            overrides = {"lr": VALUE_LR, **overrides}
        train_config = LeeTrainConfig(**overrides)
    except ValueError as e:
        raise SystemExit(str(e))
    os.makedirs(run_dir, exist_ok=True)
    atomic.write_json(path, {"command": command, "net": net_config.to_dict(),
                             "train": train_config.to_dict(), "data": os.path.abspath(data_dir)},
                      indent=2, sort_keys=True)
    return net_config, train_config


def load_data(command, data_dir):
    """(training data, held-out data or None) of ``data_dir``'s train/ and heldout/ (see
    ``nets.sgf_data.split_folder``): an empty or missing heldout/ (a small collection) trains
    without held-out evaluation; a missing train/ or a corrupt shard is a SystemExit naming
    it."""
    from nets.sgf_data import ShardError, load_shards, split_folder

    def load(paths):
        if command == "value":
            return ValueData(*load_value_shards(paths))
        return PolicyData(load_shards(paths))

    try:
        train_paths, heldout_paths = split_folder(data_dir)
        train_data = load(train_paths)
        heldout = load(heldout_paths) if heldout_paths else None
    except ShardError as e:
        raise SystemExit(str(e)) from None
    if train_data.count == 0:
        raise SystemExit(f"{data_dir}/train: no positions")
    if heldout is not None and heldout.count == 0:
        heldout = None
    if heldout is None:
        print(f"note: {data_dir} has no held-out data: training without held-out evaluation",
              file=sys.stderr)
    elif heldout.n != train_data.n:
        raise SystemExit(f"{data_dir}: train/ is {train_data.n}x{train_data.n}, heldout/ is "
                         f"{heldout.n}x{heldout.n}")
    return train_data, heldout


def run_training(command, data_dir, run_dir, net=None, steps=100_000, device="cpu",
                 progress=True, workers=0, **overrides):
    """The ``sl`` / ``value`` command as a function -> final metrics dict (``step``, held-out
    and, for a value net, training-set evaluation)."""
    train_data, heldout = load_data(command, data_dir)
    net_config, config = run_config(run_dir, command, data_dir, train_data.n, net, overrides)
    ckpt_dir = os.path.join(run_dir, "checkpoints")
    for folder in (run_dir, ckpt_dir):
        atomic.remove_stale(folder)  # temporaries of a run killed mid-write
    model, optimizer, step = resume(ckpt_dir, net_config, config, device)
    what = "games" if command == "value" else "moves"
    print(f"{command}: {net_config.name} {net_config.board_size}x{net_config.board_size} from "
          f"step {step} to {steps}, {train_data.count} training {what}"
          + (f", {heldout.count} held-out" if heldout is not None else ""), file=sys.stderr)
    if step >= steps:
        print(f"{run_dir} is at step {step}: nothing to do for --steps {steps}", file=sys.stderr)
        return {"step": step}
    log = MetricsLog(os.path.join(run_dir, "logs"), prefix=command)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=steps, initial=step, desc=command, unit="step")
    try:
        return train(model, optimizer, train_data, config, step, steps, device, heldout,
                     ckpt_dir, log, bar, workers)
    finally:
        if bar is not None:
            bar.close()
        log.close()


def export(run_dir, out_path, checkpoint=None):
    """Write the run's newest checkpoint (or ``checkpoint``) for play: weights and config, no
    optimizer state -> (config, step)."""
    if checkpoint is None:
        found = list_checkpoints(os.path.join(run_dir, "checkpoints"))
        if not found:
            raise CheckpointError(f"{run_dir}/checkpoints: no step-<k>.pt checkpoint")
        checkpoint = found[0][1]
    model, config, step, payload = load_network(checkpoint)
    extra = dict(payload.get("extra") or {})
    cfg_path = os.path.join(run_dir, "config.json")
    if os.path.exists(cfg_path):
        with open(cfg_path, encoding="utf-8") as f:
            extra["config_json"] = f.read()
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    save_network(out_path, model, config, step, extra=extra)
    return config, step


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m nets.train_lee",
                                description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    for command, what in (("sl", "the SL policy from game records"),
                          ("value", "the value net from value shards")):
        s = sub.add_parser(command, help=f"train {what}")
        s.add_argument("data", help="data directory with train/ and heldout/ shards")
        s.add_argument("--run", required=True, help="run directory (config.json, checkpoints/, "
                                                    "logs/)")
        s.add_argument("--net", help="network size on a first start, e.g. l13k192")
        s.add_argument("--steps", type=int, default=100_000,
                       help="step count to reach in all (default %(default)s)")
        s.add_argument("--batch", type=int, help="positions per step (first start; default 128)")
        s.add_argument("--lr", type=float, help="initial learning rate (first start; default "
                                                f"0.01 for sl, {VALUE_LR} for value)")
        s.add_argument("--lr-halve-every", type=int, help="steps between lr halvings")
        s.add_argument("--checkpoint-every", type=int, help="steps between checkpoints")
        s.add_argument("--eval-every", type=int, help="steps between held-out evaluations")
        s.add_argument("--eval-positions", type=int, help="size of the evaluation sets")
        s.add_argument("--seed", type=int, help="seed of initialisation and batches")
        s.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
        s.add_argument("--threads", type=int, help="torch CPU threads")
        s.add_argument("--workers", type=int, default=0,
                       help="processes building batches ahead (default 0: in this process)")
        s.add_argument("--no-progress", action="store_true", help="no progress bar")
    e = sub.add_parser("export", help="write a trained network for play")
    e.add_argument("run", help="run directory")
    e.add_argument("--out", required=True, help="file to write")
    e.add_argument("--checkpoint", help="checkpoint to export (default: the newest)")
    args = p.parse_args(argv)

    if args.command == "export":
        try:
            config, step = export(args.run, args.out, args.checkpoint)
        except (CheckpointError, OSError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(json.dumps({"out": args.out, "kind": config.KIND, "net": config.name,
                          "board_size": config.board_size, "step": step,
                          "bytes": os.path.getsize(args.out)}))
        return 0

    if args.steps < 0:
        p.error("--steps must not be negative")
    if args.workers < 0:
        p.error("--workers must not be negative")
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = dict(batch_size=args.batch, lr=args.lr, lr_halve_every=args.lr_halve_every,
                     checkpoint_every=args.checkpoint_every, eval_every=args.eval_every,
                     eval_positions=args.eval_positions, seed=args.seed)
    try:
        metrics = run_training(args.command, args.data, args.run, args.net, args.steps,
                               args.device, not args.no_progress, args.workers, **overrides)
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stopped: checkpoint saved, run the same command to continue", file=sys.stderr)
        return 130
    print(json.dumps({k: round(v, 5) if isinstance(v, float) else v
                      for k, v in metrics.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
