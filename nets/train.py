"""AlphaGo Zero training: SGD on positions from the replay window of self-play games.

Loss per position (AlphaGo Zero, Silver et al. 2017, eq. 1), averaged over the batch::

    l = (z - v)^2  -  pi . log p  +  c ||theta||^2   (+ w_own * mean_points (o - o_hat)^2)

- value: squared error between the outcome z and the value head v (side to move's view);
- policy: cross-entropy between the MCTS visit distribution pi and the policy head's softmax p,
  averaged over the positions whose pi came from a full search only (``full_search`` False marks
  the cheap playout-cap searches: their pi is not a target, their z still is);
- L2: the c ||theta||^2 term is applied by SGD's ``weight_decay = 2c`` (the gradient of
  c ||theta||^2 is 2c theta), over every parameter as in the paper; its value is reported in the
  metrics as ``l2`` but not back-propagated a second time;
- ownership (only when the network has the ownership head): squared error against the final
  Tromp-Taylor owner of each point (+1 side to move's), weighted by ``ownership_weight``.

``train_steps`` runs SGD with momentum and a stepwise learning-rate schedule, draws each batch
from a numpy Generator seeded with (seed, step) -- so a run resumed from a checkpoint at step k
sees exactly the batches the uninterrupted run saw -- and writes ``step-<k>.pt`` checkpoints
(``nets.checkpoint``, atomic, optimizer state included) every ``steps_per_generation`` steps.
``resume`` rebuilds model and optimizer from the newest readable checkpoint of a directory.

Command line::

    python -m nets.train --run runs/NAME --steps N [--net b6c64 --size 9]

reads the network from ``runs/NAME/config.json`` (key ``"net"``: a ``NetConfig`` dict; on a
first start it is written from ``--net`` / ``--size``) and training overrides from its
``"train"`` key, resumes from ``runs/NAME/checkpoints/``, trains N more steps on
``runs/NAME/games/`` with a tqdm progress bar, and logs metrics to TensorBoard when the
``tensorboard`` package is installed, else to ``runs/NAME/logs/train.jsonl`` (one JSON line per
logged step).
"""
import argparse
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from engine import atomic
from engine.config import Config, check, not_negative, positive
from nets.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from nets.heap import keep_heap_mapped
from nets.replay import ReplayWindow
from nets.resnet import NetConfig, build_net


@dataclass(frozen=True)
class TrainConfig(Config):
    """Optimisation settings (defaults: a small 9x9 run; the paper's values in comments)."""
    batch_size: int = 256  # positions per SGD step (paper: 2048 = 64 GPUs x 32)
    lr_boundaries: tuple = (100_000, 300_000)  # steps at which the learning rate drops
    lr_values: tuple = (0.02, 0.002, 0.0002)  # lr before, between and after the boundaries
    momentum: float = 0.9  # SGD momentum (paper: 0.9)
    l2_c: float = 1e-4  # c of c ||theta||^2 (paper: 1e-4); SGD weight_decay = 2c
    steps_per_generation: int = 1000  # steps between checkpoints / replay refreshes (paper: 1000)
    window_games: int = 2000  # replay window: newest games sampled from (paper: 500,000)
    ownership_weight: float = 1.0  # weight of the ownership loss (only with an ownership head)
    seed: int = 0  # seeds network initialisation and the batch stream
    log_every: int = 10  # steps between metric log lines

    WHAT = "training config"  # class constant, not a field: "unknown training config fields"

    def __post_init__(self):
        # JSON gives lists; keep tuples so the config stays hashable and comparable
        object.__setattr__(self, "lr_boundaries", tuple(int(b) for b in self.lr_boundaries))
        object.__setattr__(self, "lr_values", tuple(float(v) for v in self.lr_values))
        check(type(self).__name__, [
            *positive(self, "batch_size", "steps_per_generation", "window_games", "log_every"),
            (len(self.lr_values) == len(self.lr_boundaries) + 1,
             "lr_values needs one value more than lr_boundaries"),
            (list(self.lr_boundaries) == sorted(set(self.lr_boundaries)),
             "lr_boundaries must be strictly increasing"),
            (all(v > 0 for v in self.lr_values), "learning rates must be positive"),
            (0.0 <= self.momentum < 1.0, "momentum must be in [0, 1)"),
            *not_negative(self, "l2_c", "ownership_weight"),
        ])

    def to_dict(self):
        """The fields, the schedule as lists (as JSON reads them back)."""
        return {**super().to_dict(), "lr_boundaries": list(self.lr_boundaries),
                "lr_values": list(self.lr_values)}


def lr_at(config, step):
    """Learning rate of the schedule at ``step``."""
    i = sum(1 for b in config.lr_boundaries if step >= b)
    return config.lr_values[i]


def sgd_step(optimizer, loss, lr, step):
    """One optimizer step on ``loss`` at learning rate ``lr``; returns the loss as a float.
    A loss that is not finite stops training before it reaches the weights: a diverged
    run keeps its last good checkpoint instead of saving NaNs over it."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    value = loss.item()
    if not math.isfinite(value):
        raise FloatingPointError(f"training loss is {value} at step {step}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return value


def make_optimizer(model, config):
    """SGD with momentum; weight_decay = 2c realises the c ||theta||^2 term."""
    return torch.optim.SGD(model.parameters(), lr=lr_at(config, 0), momentum=config.momentum,
                           weight_decay=2.0 * config.l2_c)


def l2_norm_sq(model):
    """||theta||^2 over every parameter."""
    with torch.no_grad():
        return float(sum(float(p.pow(2).sum()) for p in model.parameters()))


def compute_losses(model, planes, policy, z, policy_mask, ownership=None, ownership_weight=1.0):
    """Forward a batch (tensors) -> (total loss tensor to back-propagate, metrics dict of
    floats). Rows with policy_mask 0 add nothing to the policy loss or accuracy."""
    logits, value, owner = model(planes)
    value_loss = torch.mean((z - value) ** 2)
    ce = -(policy * F.log_softmax(logits, dim=1)).sum(dim=1)  # [B]
    used = policy_mask.sum()
    denom = torch.clamp(used, min=1.0)
    policy_loss = (ce * policy_mask).sum() / denom
    hit = (logits.argmax(dim=1) == policy.argmax(dim=1)).float()
    total = value_loss + policy_loss
    metrics = {"value_loss": value_loss.item(), "policy_loss": policy_loss.item(),
               "policy_acc": float((hit * policy_mask).sum() / denom),
               "policy_rows": float(used)}
    if owner is not None and ownership is not None:
        own_loss = torch.mean((owner - ownership) ** 2)
        total = total + ownership_weight * own_loss
        metrics["ownership_loss"] = own_loss.item()
    return total, metrics


def _to_tensors(batch, device):
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)  # noqa: E731
    return (t(batch.planes), t(batch.policy), t(batch.z), t(batch.policy_mask),
            t(batch.ownership))


def checkpoint_name(step):
    return f"step-{int(step)}.pt"


def save_training_checkpoint(ckpt_dir, model, optimizer, config, step):
    """Atomic ``ckpt_dir/step-<step>.pt`` with optimizer state and the training config."""
    os.makedirs(ckpt_dir, exist_ok=True)
    path = os.path.join(ckpt_dir, checkpoint_name(step))
    save_checkpoint(path, model, model.config, step, optimizer=optimizer,
                    extra={"train_config": config.to_dict()})
    return path


def train_steps(model, optimizer, replay, config, n_steps, start_step, log=None,
                checkpoint_dir=None, progress=None):
    """Run ``n_steps`` SGD steps from ``start_step`` on batches from ``replay`` -> metrics dict:
    mean ``loss`` (value + policy (+ ownership)), ``value_loss`` (= value MSE), ``policy_loss``,
    ``policy_acc`` (top-1 against argmax pi, full-search rows), ``l2`` (||theta||^2 at the end)
    and ``ownership_loss`` when the net has the head; ``step`` is the step reached, ``lr`` the
    last learning rate. ``log(step, metrics)`` is called every ``config.log_every`` steps with
    that step's metrics; a checkpoint goes to ``checkpoint_dir`` after every step that is a
    multiple of ``steps_per_generation``. ``progress``: a tqdm-like object to ``update(1)``."""
    device = next(model.parameters()).device
    if device.type == "cpu":
        keep_heap_mapped()
    model.train()
    sums, counts = {}, {}
    step = start_step
    lr = lr_at(config, step)
    for _ in range(n_steps):
        lr = lr_at(config, step)
        rng = np.random.default_rng((config.seed, step))
        batch = replay.sample(config.batch_size, rng)
        planes, policy, z, mask, ownership = _to_tensors(batch, device)
        loss, m = compute_losses(model, planes, policy, z, mask, ownership,
                                 config.ownership_weight)
        m["loss"] = sgd_step(optimizer, loss, lr, step)
        step += 1
        for k, v in m.items():
            if k == "policy_acc" or k == "policy_loss":
                w = m["policy_rows"]  # average over the rows that had policy targets
                sums[k] = sums.get(k, 0.0) + v * w
                counts[k] = counts.get(k, 0.0) + w
            else:
                sums[k] = sums.get(k, 0.0) + v
                counts[k] = counts.get(k, 0.0) + 1
        if log is not None and step % config.log_every == 0:
            log(step, dict(m, lr=lr, l2=l2_norm_sq(model), positions=replay.positions))
        if checkpoint_dir is not None and step % config.steps_per_generation == 0:
            save_training_checkpoint(checkpoint_dir, model, optimizer, config, step)
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{m['loss']:.3f}", acc=f"{m['policy_acc']:.2f}")
    out = {k: sums[k] / counts[k] if counts[k] else 0.0 for k in sums}
    out.pop("policy_rows", None)
    out["value_mse"] = out.get("value_loss", 0.0)
    out.update(step=step, lr=lr, l2=l2_norm_sq(model))
    return out


def list_checkpoints(ckpt_dir):
    """[(step, path)] of ``step-<k>.pt`` files in ``ckpt_dir``, newest step first."""
    try:
        names = os.listdir(ckpt_dir)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        m = re.fullmatch(r"step-(\d+)\.pt", name)
        if m:
            found.append((int(m.group(1)), os.path.join(ckpt_dir, name)))
    return sorted(found, reverse=True)


def resume(ckpt_dir, config, net_config=None, device="cpu"):
    """(model in train mode, optimizer, step) from the newest readable checkpoint in
    ``ckpt_dir`` (unreadable ones are skipped with a message on stderr); with none, a fresh
    network for ``net_config`` initialised from ``config.seed`` at step 0."""
    for step, path in list_checkpoints(ckpt_dir):
        try:
            model, cfg, saved_step, payload = load_checkpoint(
                path, board_size=net_config.board_size if net_config else None)
        except CheckpointError as e:
            print(f"resume: skipping {e}", file=sys.stderr)
            continue
        if net_config is not None and cfg != net_config:
            raise CheckpointError(f"checkpoint {path}: network {cfg} differs from the run's "
                                  f"{net_config}")
        model.to(device).train()
        optimizer = make_optimizer(model, config)
        if payload.get("optimizer") is not None:
            optimizer.load_state_dict(payload["optimizer"])
        return model, optimizer, saved_step
    if net_config is None:
        raise CheckpointError(f"no readable checkpoint in {ckpt_dir} and no network config "
                              f"to start a fresh network")
    torch.manual_seed(config.seed)
    model = build_net(net_config).to(device).train()
    return model, make_optimizer(model, config), 0


class MetricsLog:
    """``log(step, metrics)``: one JSON line per call appended to ``<logs_dir>/train.jsonl``
    (always: the loop's progress plot reads it), and TensorBoard scalars under ``prefix/`` when
    the ``tensorboard`` package is importable (``use_tensorboard=None``) or asked for (True)."""

    def __init__(self, logs_dir, use_tensorboard=None, prefix="train", jsonl="train.jsonl"):
        os.makedirs(logs_dir, exist_ok=True)
        if use_tensorboard is None:
            try:
                import tensorboard  # noqa: F401
                use_tensorboard = True
            except ImportError:
                use_tensorboard = False
        self.prefix = prefix  # TensorBoard tag prefix
        self.writer = None
        if use_tensorboard:
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(os.path.join(logs_dir, "tensorboard"))
        self.path = os.path.join(logs_dir, jsonl)
        self.file = open(self.path, "a", encoding="utf-8")

    def __call__(self, step, metrics):
        if self.writer is not None:
            for k, v in metrics.items():
                self.writer.add_scalar(f"{self.prefix}/{k}", v, step)
            self.writer.flush()
        self.file.write(json.dumps({"step": int(step), "time": round(time.time(), 3),
                                    **{k: float(v) for k, v in metrics.items()}}) + "\n")
        self.file.flush()

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.file.close()


def run_config(run_dir, net=None, size=None):
    """(NetConfig, TrainConfig) of a run: config.json's ``"net"`` (and ``"train"``); a run
    without ``"net"`` gets one from ``net`` / ``size``, stored back into config.json."""
    path = os.path.join(run_dir, "config.json")
    data = atomic.read_json_object(path)
    try:
        train = TrainConfig.from_dict(data.get("train", {}))
        if "net" in data:
            net_config = NetConfig.from_dict(data["net"])
            if size is not None and size != net_config.board_size:
                raise SystemExit(f"{run_dir}: the run's network is for "
                                 f"{net_config.board_size}x{net_config.board_size}, "
                                 f"--size {size} given")
            return net_config, train
    except (TypeError, ValueError) as e:
        raise SystemExit(f"{run_dir}/config.json: {e}")
    if net is None or size is None:
        raise SystemExit(f"{run_dir}/config.json has no network yet: give --net and --size "
                         f"for the first start")
    try:
        net_config = NetConfig.from_name(net, board_size=size)
    except ValueError as e:
        raise SystemExit(str(e))
    os.makedirs(run_dir, exist_ok=True)
    atomic.write_json(path, {**data, "net": net_config.to_dict()}, indent=2, sort_keys=True)
    return net_config, train


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m nets.train", description=__doc__.split("\n")[0])
    p.add_argument("--run", required=True, help="run directory (config.json, games/, ...)")
    p.add_argument("--steps", type=int, required=True, help="SGD steps to run now")
    p.add_argument("--net", help="network size on a first start, e.g. b6c64")
    p.add_argument("--size", type=int, help="board size on a first start")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--checkpoint-every", type=int,
                   help="override steps_per_generation (steps between checkpoints)")
    p.add_argument("--batch-size", type=int, help="override batch_size")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.steps < 0:
        p.error("--steps must not be negative")
    torch.set_num_threads(args.threads)
    net_config, config = run_config(args.run, args.net, args.size)
    overrides = {}
    if args.checkpoint_every:
        overrides["steps_per_generation"] = args.checkpoint_every
    if args.batch_size:
        overrides["batch_size"] = args.batch_size
    if overrides:
        config = TrainConfig.from_dict({**config.to_dict(), **overrides})
    ckpt_dir = os.path.join(args.run, "checkpoints")
    model, optimizer, step = resume(ckpt_dir, config, net_config, args.device)
    replay = ReplayWindow(os.path.join(args.run, "games"), config.window_games,
                          net_config.board_size)
    replay.refresh()
    if replay.positions == 0:
        raise SystemExit(f"{args.run}/games: no readable games to train on")
    print(f"training {net_config.name} {net_config.board_size}x{net_config.board_size} from "
          f"step {step}: {len(replay.games)} games, {replay.positions} positions"
          + (f", {replay.skipped} bad files skipped" if replay.skipped else ""), file=sys.stderr)
    log = MetricsLog(os.path.join(args.run, "logs"))
    bar = None
    if not args.no_progress:
        from tqdm import tqdm
        bar = tqdm(total=args.steps, initial=0, desc=f"train from {step}", unit="step")
    end = step + args.steps
    metrics = {}
    try:
        while step < end:
            # train up to the next generation boundary, then pick up new games
            chunk = min(end, (step // config.steps_per_generation + 1)
                        * config.steps_per_generation) - step
            metrics = train_steps(model, optimizer, replay, config, chunk, step, log=log,
                                  checkpoint_dir=ckpt_dir, progress=bar)
            step = metrics["step"]
            replay.refresh()
    finally:
        if bar is not None:
            bar.close()
        log.close()
    if args.steps and step % config.steps_per_generation:
        save_training_checkpoint(ckpt_dir, model, optimizer, config, step)
    if metrics:
        print(json.dumps({k: round(v, 5) if isinstance(v, float) else v
                          for k, v in metrics.items()}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
