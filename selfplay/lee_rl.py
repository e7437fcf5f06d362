"""AlphaGo Lee's RL policy step: REINFORCE from the SL policy against a pool of its own
earlier versions, and the no-search match that measures it.

    python -m selfplay.lee_rl train --sl runs/lee9/sl/best.pt --run runs/lee9/rl [--iterations 200]
    python -m selfplay.lee_rl match A.pt B.pt --games 400 [--size 9]

Training (Silver et al. 2016, "Reinforcement learning of policy networks")
--------------------------------------------------------------------------
The RL network starts as a copy of the SL network. Each iteration plays a minibatch of
``games`` games (paper: 128) between the current network and an opponent drawn uniformly from
the pool (the SL network and every ``pool_every``-th iteration's snapshot, paper: 500), the
learner taking black in half of them. Moves are sampled from the networks' softmax over the
sensible moves (``selfplay.lee_games``). When the games end, every learner decision gets the
game's outcome z = +1 (win) / -1 (loss) / 0 (draw) from the learner's view, minus a baseline
(none, or the value network's v(s) with ``--baseline-value``), and the weights move by SGD
along

    (1 / games) * sum over games, sum over learner moves t of (z - b(s_t)) * grad log p(a_t | s_t)

where p is the network's softmax restricted to the sensible moves, as in play. The learner's
planes are kept as uint8 (they are all 0/1) until the update, so a 128-game 19x19 minibatch
fits in memory.

Run directory: ``config.json`` (``RLConfig``), ``checkpoints/rl-XXXXXX.pt`` (the newest few,
each with its optimizer, the pool list and the random state; written atomically), ``pool/``
(the snapshots opponents are drawn from), ``logs/rl.jsonl`` + TensorBoard (win rate against
the pool, loss, game length). Killing the command at any moment and starting it again resumes
from the newest checkpoint; an interrupted iteration is played again.

Match
-----
``match`` plays two policy networks against each other without search, colours alternating,
moves sampled (temperature 1, as in the paper's RL-vs-SL comparison; ``--temperature``), and
prints A's win rate with a 95% Wilson interval.
"""
import argparse
import dataclasses
import json
import os
import random
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch

from engine import atomic
from engine.board import BLACK, WHITE
from engine.config import Config
from selfplay import stats
from selfplay.lee_games import PolicyGames, play_out

KEEP_CHECKPOINTS = 3  # newest RL checkpoints kept in checkpoints/ (the pool keeps its own)


@dataclass(frozen=True)
class RLConfig(Config):
    """Settings of one RL run (written to the run's config.json and into every checkpoint)."""
    sl: str = ""  # the SL policy checkpoint the RL network starts from (also pool member 0)
    iterations: int = 200  # minibatches of games to play and learn from
    games: int = 64  # games per iteration (paper: 128); half with the learner as black
    pool_every: int = 20  # add a snapshot of the learner to the opponent pool every K iterations (paper: 500)
    lr: float = 0.001  # SGD learning rate (paper: 0.001)
    momentum: float = 0.0  # SGD momentum (the paper's RL step uses plain SGD)
    temperature: float = 1.0  # softmax temperature of both sides' move sampling
    komi: float = 7.0  # komi of the training games
    baseline_value: str = ""  # value-net checkpoint giving the baseline v(s); "" = no baseline
    update_chunk: int = 2048  # positions per forward/backward chunk of the update (memory bound)
    seed: int = 0  # seeds games and opponent choice (iteration i uses seed + i)
    device: str = "auto"  # "auto" = cuda when available, else cpu

    WHAT = "RL config"  # class constant, not a field: "unknown RL config fields"


def pick_device(name):
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


# -- one iteration ----------------------------------------------------------------------------

class Recorder:
    """The learner's decisions during one minibatch of games."""

    def __init__(self, learner):
        self.learner = learner
        self.rows = []  # game index of each decision, int64 chunks
        self.planes = []  # uint8[R, 48, N, N] chunks
        self.masks = []  # uint8[R, N*N] chunks
        self.actions = []  # int64[R] chunks

    def __call__(self, rows, planes, mask, actions, module):
        if module is not self.learner:
            return
        keep = actions >= 0  # a pass is not a network decision
        self.rows.append(rows[keep])
        self.planes.append(planes[keep].astype(np.uint8))
        self.masks.append(mask[keep])
        self.actions.append(actions[keep])

    def arrays(self):
        if not self.rows:
            return None
        return (np.concatenate(self.rows), np.concatenate(self.planes),
                np.concatenate(self.masks), np.concatenate(self.actions))


def masked_log_prob(logits, mask, actions):
    """log p(action) under softmax(logits) restricted to ``mask``: logits [R, N*N] float,
    mask [R, N*N] bool, actions [R] int64 -> [R]."""
    lg = logits.masked_fill(~mask, float("-inf"))
    return torch.log_softmax(lg, dim=1).gather(1, actions[:, None])[:, 0]


def play_minibatch(learner, opponent, cfg, n, seed, device, record=None):
    """Play ``cfg.games`` games learner vs opponent; the learner is black in the even games.
    Returns (games, learner_colour int8[games])."""
    games = PolicyGames(n, cfg.games, cfg.komi, seed=seed)
    learner_color = np.where(np.arange(cfg.games) % 2 == 0, BLACK, WHITE).astype(np.int8)

    def policies(rows, colors):
        mine = colors == learner_color[rows]
        return [(mine, learner), (~mine, opponent)]

    play_out(games, policies, cfg.temperature, device, record)
    return games, learner_color


def outcomes(games, learner_color):
    """z per game from the learner's view: +1 win, -1 loss, 0 draw."""
    w = games.winners()
    return np.where(w == 0, 0.0, np.where(w == learner_color, 1.0, -1.0)).astype(np.float32)


def reinforce_update(learner, optimizer, rec, z, n_games, cfg, device, value_net=None,
                     learner_color=None):
    """One SGD step on the recorded decisions; returns (loss, mean baseline)."""
    arrays = rec.arrays()
    optimizer.zero_grad(set_to_none=True)
    if arrays is None:
        return 0.0, 0.0
    rows, planes, masks, actions = arrays
    adv = z[rows].astype(np.float32)  # [R]
    base_sum = 0.0
    learner.train()
    total = 0.0
    for lo in range(0, len(rows), cfg.update_chunk):
        hi = min(lo + cfg.update_chunk, len(rows))
        x = torch.from_numpy(planes[lo:hi]).to(device).float()  # [R, 48, N, N]
        a = adv[lo:hi].copy()
        if value_net is not None:
            black = (learner_color[rows[lo:hi]] == BLACK).astype(np.float32)
            player = torch.from_numpy(black).to(device)[:, None, None, None].expand(
                -1, 1, x.shape[2], x.shape[3])
            with torch.no_grad():
                v = value_net(torch.cat([x, player], dim=1)).float().cpu().numpy()  # [R]
            a -= v
            base_sum += float(v.sum())
        logp = masked_log_prob(learner(x).float(),
                               torch.from_numpy(masks[lo:hi].astype(bool)).to(device),
                               torch.from_numpy(actions[lo:hi]).to(device))
        loss = -(torch.from_numpy(a).to(device) * logp).sum() / n_games
        loss.backward()
        total += float(loss.detach())
    optimizer.step()
    learner.eval()
    return total, base_sum / max(len(rows), 1)


# -- the run ---------------------------------------------------------------------------------

def _ckpt_name(it):
    return f"rl-{it:06d}.pt"


def _list(dirname, prefix):
    if not os.path.isdir(dirname):
        return []
    return sorted(os.path.join(dirname, f) for f in os.listdir(dirname)
                  if f.startswith(prefix) and f.endswith(".pt"))


class RLRun:
    """The RL run in ``run_dir``: config, learner, optimizer, pool; resumable."""

    def __init__(self, run_dir, cfg=None, log=True):
        from nets.lee import load_policy
        self.run_dir = run_dir
        path = os.path.join(run_dir, "config.json")
        if os.path.exists(path):
            try:
                saved = RLConfig.from_dict(atomic.read_json_object(path))
            except (TypeError, ValueError) as e:
                raise SystemExit(f"{path}: {e}") from None
            if cfg is not None:
                saved = dataclasses.replace(saved, iterations=cfg.iterations)
            cfg = saved
        elif cfg is None:
            raise SystemExit(f"{run_dir} holds no RL run: give --sl for the first start")
        if not cfg.sl:
            raise SystemExit("the RL step needs the SL policy checkpoint (--sl)")
        os.makedirs(os.path.join(run_dir, "checkpoints"), exist_ok=True)
        os.makedirs(os.path.join(run_dir, "pool"), exist_ok=True)
        for sub in ("", "checkpoints", "pool"):
            atomic.remove_stale(os.path.join(run_dir, sub))  # a run killed mid-write
        atomic.write_json(path, cfg.to_dict(), indent=2, sort_keys=True)
        self.cfg = cfg
        self.device = pick_device(cfg.device)
        self.ckpt_dir = os.path.join(run_dir, "checkpoints")
        self.pool_dir = os.path.join(run_dir, "pool")

        self.learner, self.net_config = load_policy(cfg.sl, device=self.device)
        self.n = self.net_config.board_size
        self.optimizer = torch.optim.SGD(self.learner.parameters(), lr=cfg.lr,
                                         momentum=cfg.momentum)
        self.iteration = 0
        self.pool = [os.path.abspath(cfg.sl)]
        ckpts = _list(self.ckpt_dir, "rl-")
        if ckpts:
            self._resume(ckpts[-1])
        self.value_net = None
        if cfg.baseline_value:
            from nets.lee import load_value
            self.value_net, vcfg = load_value(cfg.baseline_value, device=self.device)
            if vcfg.board_size != self.n:
                raise SystemExit(f"{cfg.baseline_value}: value net for {vcfg.board_size}x"
                                 f"{vcfg.board_size}, policy for {self.n}x{self.n}")
        self._opponents = {}
        self.log = None
        if log:
            from nets.train import MetricsLog
            self.log = MetricsLog(os.path.join(run_dir, "logs"), prefix="rl", jsonl="rl.jsonl")

    def _resume(self, path):
        from nets.lee import read_policy_payload
        payload = read_policy_payload(path)
        self.learner.load_state_dict(payload["model"])
        if payload.get("optimizer"):
            self.optimizer.load_state_dict(payload["optimizer"])
        extra = payload.get("extra") or {}
        self.iteration = int(extra.get("iteration", payload.get("step", 0)))
        self.pool = list(extra.get("pool", self.pool))

    def opponent(self, rng):
        path = self.pool[rng.randrange(len(self.pool))]
        if path not in self._opponents:
            from nets.lee import load_policy
            if len(self._opponents) >= 8:  # keep memory bounded on long runs
                self._opponents.pop(next(iter(self._opponents)))
            self._opponents[path] = load_policy(path, device=self.device)[0]
        return path, self._opponents[path]

    def save(self):
        from nets.lee import save_policy
        extra = {"iteration": self.iteration, "pool": self.pool,
                 "rl_config": json.dumps(self.cfg.to_dict())}
        path = os.path.join(self.ckpt_dir, _ckpt_name(self.iteration))
        save_policy(path, self.learner, self.net_config, self.iteration, self.optimizer, extra)
        for old in _list(self.ckpt_dir, "rl-")[:-KEEP_CHECKPOINTS]:
            os.remove(old)
        return path

    def step(self):
        """Play one minibatch, update, log; returns the iteration's metrics."""
        cfg = self.cfg
        it = self.iteration
        rng = random.Random(cfg.seed * 1000003 + it)
        opp_path, opponent = self.opponent(rng)
        t0 = time.time()
        self.learner.eval()
        rec = Recorder(self.learner)
        games, learner_color = play_minibatch(self.learner, opponent, cfg, self.n,
                                              cfg.seed * 1000003 + it, self.device, rec)
        z = outcomes(games, learner_color)
        t1 = time.time()
        loss, base = reinforce_update(self.learner, self.optimizer, rec, z, cfg.games, cfg,
                                      self.device, self.value_net, learner_color)
        self.iteration = it + 1
        if self.iteration % cfg.pool_every == 0:
            snap = os.path.join(self.pool_dir, f"pool-{self.iteration:06d}.pt")
            from nets.lee import save_policy
            save_policy(snap, self.learner, self.net_config, self.iteration)
            self.pool.append(os.path.abspath(snap))
        self.save()
        m = {"win_rate": float((z > 0).mean() + 0.5 * (z == 0).mean()), "loss": loss,
             "baseline": base, "game_length": float(games.length.mean()),
             "pool_size": float(len(self.pool)), "play_seconds": t1 - t0,
             "update_seconds": time.time() - t1}
        if self.log is not None:
            self.log(self.iteration, m)
        return m, opp_path

    def run(self, progress=True):
        from tqdm import tqdm
        bar = tqdm(total=self.cfg.iterations, initial=self.iteration, disable=not progress,
                   desc="RL", unit="it")
        try:
            while self.iteration < self.cfg.iterations:
                m, opp = self.step()
                bar.update(1)
                bar.set_postfix(win=f"{m['win_rate']:.2f}", len=f"{m['game_length']:.0f}",
                                opp=os.path.basename(opp))
        finally:
            bar.close()
            if self.log is not None:
                self.log.close()


# -- match without search ------------------------------------------------------------------

def policy_match(a, b, n, games, komi=7.0, temperature=1.0, seed=0, device="cpu", batch=200):
    """Games between policy modules ``a`` and ``b`` (colours alternating, a black in even
    games); returns (wins, draws, losses) of ``a``."""
    wins = draws = losses = 0
    done = 0
    while done < games:
        k = min(batch, games - done)
        g = PolicyGames(n, k, komi, seed=seed + done)
        a_color = np.where((np.arange(k) + done) % 2 == 0, BLACK, WHITE).astype(np.int8)

        def policies(rows, colors):
            mine = colors == a_color[rows]
            return [(mine, a), (~mine, b)]

        play_out(g, policies, temperature, device)
        w = g.winners()
        wins += int(((w == a_color) & (w != 0)).sum())
        draws += int((w == 0).sum())
        losses += int(((w != a_color) & (w != 0)).sum())
        done += k
    return wins, draws, losses


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m selfplay.lee_rl",
                                description="AlphaGo Lee RL policy: REINFORCE against a pool")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train (or resume) an RL policy run")
    t.add_argument("--run", required=True, help="run directory")
    t.add_argument("--sl", help="SL policy checkpoint to start from (first start)")
    d = RLConfig()
    t.add_argument("--iterations", type=int, default=d.iterations,
                   help=f"total iterations (default {d.iterations}; raise it to train on)")
    t.add_argument("--games", type=int, default=d.games, help=f"games per iteration ({d.games})")
    t.add_argument("--pool-every", type=int, default=d.pool_every,
                   help=f"iterations between pool snapshots ({d.pool_every})")
    t.add_argument("--lr", type=float, default=d.lr, help=f"learning rate ({d.lr})")
    t.add_argument("--komi", type=float, default=d.komi)
    t.add_argument("--baseline-value", default="", help="value-net checkpoint as the baseline")
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--device", default=d.device)
    t.add_argument("--no-progress", action="store_true")
    m = sub.add_parser("match", help="policy A against policy B without search")
    m.add_argument("a")
    m.add_argument("b")
    m.add_argument("--games", type=int, default=200)
    m.add_argument("--komi", type=float, default=7.0)
    m.add_argument("--temperature", type=float, default=1.0)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--device", default="auto")
    m.add_argument("--out", help="write the result as JSON here")
    args = p.parse_args(argv)

    if args.cmd == "train":
        cfg = None
        if not os.path.exists(os.path.join(args.run, "config.json")):
            if not args.sl:
                raise SystemExit(f"{args.run} holds no RL run yet: give --sl")
            cfg = RLConfig(sl=os.path.abspath(args.sl), iterations=args.iterations,
                           games=args.games, pool_every=args.pool_every, lr=args.lr,
                           komi=args.komi, baseline_value=args.baseline_value, seed=args.seed,
                           device=args.device)
        else:
            cfg = RLConfig(iterations=args.iterations)  # only the budget changes on resume
        RLRun(args.run, cfg).run(progress=not args.no_progress)
        return 0

    from nets.lee import load_policy
    device = pick_device(args.device)
    a, ca = load_policy(args.a, device=device)
    b, cb = load_policy(args.b, device=device)
    if ca.board_size != cb.board_size:
        raise SystemExit(f"board sizes differ: {ca.board_size} and {cb.board_size}")
    t0 = time.time()
    w, d_, l_ = policy_match(a, b, ca.board_size, args.games, args.komi, args.temperature,
                             args.seed, device)
    lo, hi = stats.wilson_interval(w + 0.5 * d_, w + d_ + l_)
    res = {"a": args.a, "b": args.b, "games": w + d_ + l_, "wins": w, "draws": d_, "losses": l_,
           "win_rate": (w + 0.5 * d_) / max(w + d_ + l_, 1), "ci95": [lo, hi],
           "seconds": round(time.time() - t0, 1), "size": ca.board_size, "komi": args.komi,
           "temperature": args.temperature}
    print(json.dumps(res, indent=2))
    if args.out:
        atomic.write_json(args.out, res, indent=2, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
