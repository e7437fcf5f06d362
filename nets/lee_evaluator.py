"""The AlphaGo Lee leaf evaluation for ``engine.search``: SL-policy priors, value-net values and
rollout-policy playouts, with the networks running while the playouts do.

``LeeNetEvaluator`` answers the network half for a ``LeafBatch``:

- priors for the rows the tree expands: the policy network's ``softmax(logits / beta)`` over
  the points (paper: beta = 0.67), with ``pass_prior`` for pass (the policy has no pass output);
- values for the other rows: the value network's v in [-1, 1] for the side to move, mapped to
  the win probability (v + 1) / 2 the tree keeps.

Both are built from the 48/49 planes of ``nets.lee_features.leaf_lee_planes`` (one jitted call
per batch, each row under its own random symmetry; the priors map back through the inverse
symmetry). With an expansion threshold above 1, a leaf is visited several times before it
grows children, and every visit asks for its value again: the answers are cached per tree node
for the current search (``start_search`` clears the cache, because tree reuse renumbers nodes),
so the value network sees each leaf once, while every visit still plays a fresh rollout.

``LeeEvaluator(nets, rollouts)`` joins it with a rollout evaluator (``engine.rollout_policy``'s
``PolicyRolloutEvaluator``): the network half runs on a worker thread (PyTorch releases the
interpreter lock) while the jitted playouts run on the calling thread(s), so the playouts
keep the cores busy while the networks think; the rollout evaluator's tree-policy priors are
then replaced by the SL priors wherever the network gave them. Without a value network
(``lam`` = 1) or without rollouts (``lam`` = 0) one half is left out.
"""
import threading

import numpy as np
import torch

from engine import mcts
from engine.player import Player
from nets.features import INVERSE, apply_symmetry_policy
from nets.lee_features import LEE_PLANES, VALUE_PLANES, leaf_lee_planes, root_ages

PASS_PRIOR = 0.01  # prior of pass at an expanded node (the policy net has no pass output)


class LeeNetEvaluator:
    """Priors from a policy network, values from a value network (either may be None)."""

    uses_rollout = False
    independent_samples = False

    def __init__(self, policy, value, board_size, beta=0.67, pass_prior=PASS_PRIOR, device=None,
                 seed=0, random_symmetry=True):
        if policy is None and value is None:
            raise ValueError("LeeNetEvaluator needs a policy network, a value network or both")
        for net in (policy, value):
            cfg = getattr(net, "config", None)
            if cfg is not None and cfg.board_size != board_size:
                raise ValueError(f"network is for {cfg.board_size}x{cfg.board_size} boards, "
                                 f"evaluator asked for {board_size}x{board_size}")
        if beta <= 0:
            raise ValueError("beta (policy softmax temperature) must be positive")
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.policy = policy.to(self.device).eval() if policy is not None else None
        self.value = value.to(self.device).eval() if value is not None else None
        self.uses_value = value is not None
        self.n = int(board_size)
        self.beta = float(beta)
        self.pass_prior = float(pass_prior)
        self.random_symmetry = bool(random_symmetry)
        self.rng = np.random.default_rng(seed)  # one symmetry per evaluated row
        self._root_state = None  # GameState whose ages are in _root_age
        self._root_age = None  # int32[(N+2)^2] stone ages at the root
        self._values = {}  # tree node -> win probability, this search only
        self.priors = np.zeros((0, self.n * self.n + 1), dtype=np.float32)  # last batch's priors
        self.have_priors = np.zeros(0, dtype=bool)  # rows of ``priors`` that were filled
        self.evaluated = 0  # positions through the value network
        self.expanded = 0  # positions through the policy network

    def _check_size(self, n):
        if n != self.n:
            raise ValueError(f"evaluator is for {self.n}x{self.n} boards, got a {n}x{n} position")

    def start_search(self, batch, want_ownership):
        self._check_size(batch.n)
        self._root_state = batch.root_state
        self._root_age = root_ages(batch.root_state)
        self._values = {}

    def ownership(self):
        return None

    def _planes(self, batch, rows):
        """(planes float32[len(rows), 49, N, N], symmetries int64[len(rows)]) of leaf rows."""
        m = len(rows)
        syms = (self.rng.integers(0, 8, size=m) if self.random_symmetry
                else np.zeros(m)).astype(np.int64)
        out = np.zeros((m, VALUE_PLANES, self.n, self.n), dtype=np.float32)
        tree = batch.tree
        leaf_lee_planes(tree[mcts.T_PARENT], tree[mcts.T_MOVE],
                        batch.leaf[rows].astype(np.int64), m, batch.root_state.board,
                        self._root_age, syms, True, out)
        return out, syms

    def compute(self, batch):
        """Fill ``batch.value`` and this object's ``priors`` / ``have_priors`` for the batch rows;
        does not touch ``batch.priors`` (the rollout evaluator may be writing them)."""
        self._check_size(batch.n)
        k = batch.count
        if batch.root_state is not self._root_state:  # driven without start_search
            self._root_state = batch.root_state
            self._root_age = root_ages(batch.root_state)
            self._values = {}
        if self.priors.shape[0] < k:
            self.priors = np.zeros((max(k, 2 * self.priors.shape[0]), self.n * self.n + 1),
                                   dtype=np.float32)
            self.have_priors = np.zeros(self.priors.shape[0], dtype=bool)
        self.have_priors[:] = False
        leaves = batch.leaf[:k]
        live = batch.terminal[:k] == 0
        want_p = np.flatnonzero(live & (batch.expand[:k] != 0)) if self.policy is not None \
            else np.zeros(0, dtype=np.int64)
        want_v = np.zeros(0, dtype=np.int64)
        if self.value is not None:
            todo = []
            for i in np.flatnonzero(live):
                v = self._values.get(int(leaves[i]))
                if v is None:
                    todo.append(i)
                else:
                    batch.value[i] = v
            want_v = np.array(todo, dtype=np.int64)
        rows = np.union1d(want_p, want_v).astype(np.int64)
        if len(rows) == 0:
            return
        planes, syms = self._planes(batch, rows)
        x = torch.from_numpy(planes).to(self.device)  # [R, 49, N, N]
        with torch.inference_mode():
            if len(want_p):
                sel = np.searchsorted(rows, want_p)
                logits = self.policy(x[torch.from_numpy(sel)][:, :LEE_PLANES])  # [P, N*N]
                probs = torch.softmax(logits.float() / self.beta, dim=1).cpu().numpy()
                nn_ = self.n * self.n
                for j, i in enumerate(want_p):
                    row = np.zeros(nn_ + 1, dtype=np.float32)
                    row[:nn_] = probs[j] * (1.0 - self.pass_prior)
                    row[nn_] = self.pass_prior
                    # undo the symmetry the planes were built under
                    apply_symmetry_policy(row, INVERSE[syms[sel[j]]], self.n, self.priors[i])
                    self.have_priors[i] = True
                self.expanded += len(want_p)
            if len(want_v):
                sel = np.searchsorted(rows, want_v)
                v = self.value(x[torch.from_numpy(sel)]).float()  # [V] in [-1, 1]
                wins = ((v + 1.0) * 0.5).clamp_(0.0, 1.0).cpu().numpy()
                for j, i in enumerate(want_v):
                    batch.value[i] = wins[j]
                    self._values[int(leaves[i])] = float(wins[j])
                self.evaluated += len(want_v)

    def write_priors(self, batch):
        """Copy the network priors of the last ``compute`` into the batch."""
        k = batch.count
        rows = np.flatnonzero(self.have_priors[:k])
        batch.priors[rows] = self.priors[rows]

    def evaluate(self, batch):
        self.compute(batch)
        self.write_priors(batch)


class LeeEvaluator:
    """Network priors/values and rollouts for the same batch, the networks on a worker thread
    while the playouts run (``nets`` may lack a value network; ``rollouts`` may be None)."""

    def __init__(self, nets, rollouts):
        if rollouts is None and not nets.uses_value:
            raise ValueError("LeeEvaluator needs a value network or rollouts to value leaves")
        self.nets = nets
        self.rollouts = rollouts
        self.uses_value = nets.uses_value
        self.uses_rollout = rollouts is not None
        self.independent_samples = rollouts is not None and not nets.uses_value
        self._error = None

    def start_search(self, batch, want_ownership):
        for e in (self.rollouts, self.nets):
            if e is not None and hasattr(e, "start_search"):
                e.start_search(batch, want_ownership)

    def ownership(self):
        if self.rollouts is not None and hasattr(self.rollouts, "ownership"):
            return self.rollouts.ownership()
        return None

    def _net_part(self, batch):
        try:
            self.nets.compute(batch)
        except BaseException as e:  # re-raised on the calling thread
            self._error = e

    def evaluate(self, batch):
        if self.rollouts is None:
            self.nets.evaluate(batch)
            return
        self._error = None
        worker = threading.Thread(target=self._net_part, args=(batch,), daemon=True)
        worker.start()
        self.rollouts.evaluate(batch)  # tree-policy priors + playouts
        worker.join()
        if self._error is not None:
            raise self._error
        self.nets.write_priors(batch)  # the SL priors replace the tree policy's

    def close(self):
        if self.rollouts is not None and hasattr(self.rollouts, "close"):
            self.rollouts.close()


# ---------------------------------------------------------------------------------------------
# Players

# AlphaGo Lee search settings (paper: lam 0.5, n_thr 40, virtual loss 3, c_puct 5 on values in
# [-1, 1], i.e. 2.5 on the win probabilities this tree keeps). The expansion threshold is lower
# than the paper's 40 because a 1 s search on 2 cores makes thousands of simulations, not the
# paper's hundreds of thousands: 40 would leave the tree a few plies deep.
LEE_DEFAULTS = dict(lam=0.5, expand_threshold=8, virtual_loss=3.0, c_puct=2.5, batch_size=32,
                    fpu_reduction=0.0, resign_min_visits=500, default_visits=3000)


class PolicyPlayer(Player):
    """The policy network alone, no search: the most probable sensible move (legal under the
    game's ko rule and not filling an own eye), or a move sampled from softmax(logits /
    temperature) when ``temperature`` > 0; pass when no sensible move is left."""

    def __init__(self, policy, board_size, temperature=0.0, seed=0, device="cpu"):
        self.policy = policy.eval()
        self.n = int(board_size)
        self.temperature = float(temperature)
        self.rng = np.random.default_rng(seed)
        self.device = device
        self.name = f"lee-policy-{policy.config.name}"

    def new_game(self, state):
        pass

    def _check(self, state):
        if state.size != self.n:
            raise ValueError(f"the network plays {self.n}x{self.n} only, the board is "
                             f"{state.size}x{state.size}")

    def probabilities(self, state, color):
        """float64[N*N] move probabilities of ``color`` over its sensible moves (zeros
        elsewhere; all zero when there is none)."""
        from engine.board import is_eye
        from nets.lee_features import state_planes
        self._check(state)
        s = state
        if s.to_move != color:
            s = state.copy()
            s.set_to_move(color)
        n = self.n
        mask = np.zeros(n * n, dtype=bool)
        for p in s.legal_points(color):
            if not is_eye(s.board, p, color):
                r, c = divmod(p, n + 2)
                mask[(r - 1) * n + (c - 1)] = True
        if not mask.any():
            return np.zeros(n * n)
        x = torch.from_numpy(state_planes(s)[None]).to(self.device)  # [1, 48, N, N]
        with torch.inference_mode():
            logits = self.policy(x)[0].double().cpu().numpy()  # [N*N]
        t = self.temperature if self.temperature > 0 else 1.0
        z = np.where(mask, logits / t, -np.inf)
        p = np.exp(z - z.max())
        return p / p.sum()

    def genmove(self, state, color, budget, on_info=None):
        from engine.board import PASS, point
        p = self.probabilities(state, color)
        if not p.any():
            return PASS
        a = int(self.rng.choice(len(p), p=p)) if self.temperature > 0 else int(np.argmax(p))
        return point(self.n, a // self.n, a % self.n)

    def analyze(self, state, color, stop, interval_s, on_info, want_ownership=False):
        from engine.board import point
        from engine.player import MoveInfo
        p = self.probabilities(state, color)
        order = np.argsort(-p)[:10]
        infos = [MoveInfo(move=point(self.n, int(a) // self.n, int(a) % self.n), visits=0,
                          winrate=0.5, prior=float(p[a]), lcb=0.0, order=i)
                 for i, a in enumerate(order) if p[a] > 0]
        if infos:
            on_info(infos, None)
        stop.wait()

    def ownership(self, state):
        return np.zeros(self.n * self.n, dtype=np.float32)



def _shipped(kind, size):
    from nets import shipped_lee
    path = shipped_lee(kind, size)
    if path is None:
        raise ValueError(f"lee player: no shipped {kind} for {size}x{size}; give it with "
                         f"--{'weights' if kind == 'policy' else kind.replace('_', '-')}")
    return path


def make_lee_player(options):
    """The ``lee`` player of ``engine.search.make_player``.

    Options: ``weights`` (policy network; default the shipped 9x9 one), ``value_weights``,
    ``rollout_model``, ``tree_model`` (priors of the ``no_policy`` variant), ``beta`` (policy softmax temperature, 0.67), ``policy_only`` (the
    policy network alone, no search), ``no_policy`` (tree-policy priors instead of the
    network's), ``size`` (board size of the shipped files, 9), ``threads``, ``seed``,
    ``visits`` / ``seconds`` and any ``SearchConfig`` field (``lam``: 0 = value net only,
    1 = rollouts only)."""
    from dataclasses import fields

    from engine.player import Budget
    from engine.search import MCTSPlayer, NetworkPlayer, SearchConfig, _as_bool
    from nets.lee import load_policy, load_value
    options = dict(options)
    size = int(options.pop("size", 9))
    threads = max(1, int(options.pop("threads", 2)))
    seed = int(options.pop("seed", 0))
    visits = options.pop("visits", None)
    seconds = options.pop("seconds", None)
    beta = float(options.pop("beta", 0.67))
    policy_only = _as_bool(options.pop("policy_only", False))
    no_policy = _as_bool(options.pop("no_policy", False))
    options.pop("playout_mode", None)
    weights = options.pop("weights", None)  # the policy network
    value_weights = options.pop("value_weights", None)
    rollout_model = options.pop("rollout_model", None)
    tree_model = options.pop("tree_model", None)
    torch.set_num_threads(1)  # the playouts take the other core(s)

    if policy_only:
        policy, pc = load_policy(weights or _shipped("policy", size))
        extra = set(options) - {"resign_threshold", "lam", "temperature"}
        if extra:
            raise ValueError(f"lee player with policy_only: unknown options {sorted(extra)}")
        return PolicyPlayer(policy, pc.board_size, float(options.get("temperature", 0.0)), seed)

    known = {f.name: getattr(SearchConfig, f.name) for f in fields(SearchConfig)}
    bad = sorted(set(options) - set(known))
    if bad:
        raise ValueError(f"lee player: unknown options {bad}")
    for k, v in list(options.items()):
        d = known[k]
        try:
            options[k] = _as_bool(v) if isinstance(d, bool) else type(d)(v)
        except (TypeError, ValueError):
            raise ValueError(f"lee player: option {k}={v!r} is not a {type(d).__name__}") from None
    config = SearchConfig(**{**LEE_DEFAULTS, **options, "threads": threads, "seed": seed})

    policy = value = None
    n = size
    if not no_policy:
        policy, pc = load_policy(weights or _shipped("policy", size))
        n = pc.board_size
    if config.lam < 1.0:
        value, vc = load_value(value_weights or _shipped("value", n), board_size=n)
    rollouts = None
    if config.lam > 0.0:
        from engine.rollout_policy import PolicyRolloutEvaluator, load_rollout_model
        tree = None
        if policy is None:  # the tree policy gives the priors
            tree = load_rollout_model(tree_model or _shipped("tree_model", n))
        # with the policy network the SL priors replace the tree policy's: skip computing them
        rollouts = PolicyRolloutEvaluator(load_rollout_model(rollout_model or
                                                             _shipped("rollout_model", n)),
                                          threads=threads, seed=seed, tree_model=tree,
                                          priors=policy is None)
    if policy is None and value is None:
        if rollouts is None:
            raise ValueError("lee player: no_policy with lam 0 leaves nothing to evaluate with")
    budget = None
    if visits is not None or seconds is not None:
        budget = Budget(visits=None if visits is None else int(visits),
                        seconds=None if seconds is None else float(seconds))
    if policy is None and value is None:
        # tree-policy priors and rollouts, no network: the pattern models fit every board size
        player = MCTSPlayer(config, rollouts, budget)
        player.name = "lee-rollouts"
        return player
    evaluator = LeeEvaluator(LeeNetEvaluator(policy, value, n, beta=beta, seed=seed), rollouts)
    player = NetworkPlayer(config, evaluator, n, "lee", budget)
    player.name = f"lee-lam{config.lam:g}"
    return player
