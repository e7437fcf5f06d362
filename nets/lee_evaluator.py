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

Two ways join it with a rollout evaluator (``engine.rollout_policy``'s
``PolicyRolloutEvaluator``):

- ``AsyncLeeEvaluator(nets, rollouts)``, the ``lee`` player's default, is the paper's
  asynchronous search: the rollouts are backed up at once and the search goes on; a worker
  thread answers the queued leaves and expansions in batches, and its values and priors join
  the tree whenever they arrive (``engine.mcts.backup_values`` / ``set_child_priors``). The
  rollouts never wait for a network (simulations per second: docs/BENCHMARKS.md).
- ``LeeEvaluator(nets, rollouts)`` (``lee:sync``) answers each batch completely before its
  backup: the network half runs on a worker thread (PyTorch releases the interpreter lock)
  while the jitted playouts run on the calling thread(s), and the batch waits for the slower
  of the two. Each visit of a leaf backs up a value (cached per node), so Nv = Nr. It is
  the only way to search with the value network alone (``lam`` = 0).

Without a value network (``lam`` = 1) the network half gives priors only.
"""
import atexit
import threading
import time
from collections import deque

import numpy as np
import torch

from engine import mcts
from engine.player import Player
from nets.features import unsymmetrize_policy_rows
from nets.heap import keep_heap_mapped
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
        if self.device.type == "cpu":
            keep_heap_mapped()
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

    def answer_nodes(self, parent, move, root_board, root_age, pnodes, vnodes, rng=None):
        """Network answers for tree nodes, their positions replayed from ``root_board`` along
        ``parent`` / ``move`` (a tree's T_PARENT / T_MOVE): (priors float32[P, N*N+1] for
        ``pnodes``, win probabilities float32[V] for the side to move at ``vnodes``). Each
        distinct node is seen once, under its own random symmetry (drawn from ``rng``, default
        this evaluator's: a second thread calling this needs its own)."""
        nn_ = self.n * self.n
        pnodes = np.asarray(pnodes, dtype=np.int64)
        vnodes = np.asarray(vnodes, dtype=np.int64)
        priors = np.zeros((len(pnodes), nn_ + 1), dtype=np.float32)
        values = np.zeros(len(vnodes), dtype=np.float32)
        if self.policy is None:
            pnodes = pnodes[:0]
        if self.value is None:
            vnodes = vnodes[:0]
        nodes = np.union1d(pnodes, vnodes).astype(np.int64)
        m = len(nodes)
        if m == 0:
            return priors, values
        rng = self.rng if rng is None else rng
        syms = (rng.integers(0, 8, size=m) if self.random_symmetry
                else np.zeros(m)).astype(np.int64)
        planes = np.zeros((m, VALUE_PLANES, self.n, self.n), dtype=np.float32)
        leaf_lee_planes(parent, move, nodes, m, root_board, root_age, syms, True, planes)
        x = torch.from_numpy(planes).to(self.device)  # [M, 49, N, N]
        with torch.inference_mode():
            if len(pnodes):
                sel = np.searchsorted(nodes, pnodes)
                logits = self.policy(x[torch.from_numpy(sel)][:, :LEE_PLANES])  # [P, N*N]
                probs = torch.softmax(logits.float() / self.beta, dim=1).cpu().numpy()
                raw = np.empty((len(pnodes), nn_ + 1), dtype=np.float32)  # seen-board actions
                raw[:, :nn_] = probs * (1.0 - self.pass_prior)
                raw[:, nn_] = self.pass_prior
                unsymmetrize_policy_rows(raw, syms[sel], len(pnodes), self.n, priors)
                self.expanded += len(pnodes)
            if len(vnodes):
                sel = np.searchsorted(nodes, vnodes)
                v = self.value(x[torch.from_numpy(sel)]).float()  # [V] in [-1, 1]
                values[:] = ((v + 1.0) * 0.5).clamp_(0.0, 1.0).cpu().numpy()
                self.evaluated += len(vnodes)
        return priors, values

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
        leaves = batch.leaf[:k].astype(np.int64)
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
        if len(want_p) == 0 and len(want_v) == 0:
            return
        tree = batch.tree
        priors, values = self.answer_nodes(tree[mcts.T_PARENT], tree[mcts.T_MOVE],
                                           batch.root_state.board, self._root_age,
                                           leaves[want_p], leaves[want_v])
        self.priors[want_p] = priors
        self.have_priors[want_p] = True
        for j, i in enumerate(want_v):
            batch.value[i] = values[j]
            self._values[int(leaves[i])] = float(values[j])

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


class AsyncLeeEvaluator:
    """The paper's asynchronous policy and value search (APV-MCTS): every simulation backs up
    its rollout at once, and the networks' answers join the tree when they arrive.

    ``evaluate`` (search thread) queues the batch's new leaves for the value network and its
    new expansions for the policy network, plays the rollouts (tree-policy priors for the
    expansions) and returns without waiting. A worker thread answers the queue in batches of
    up to ``max_rows`` positions, policy requests first; each later ``evaluate`` applies the
    answers that have arrived: one value sample per leaf, backed up along its path
    (``engine.mcts.backup_values``: Nv and Wv grow, N does not), and the SL priors in place
    of the tree policy's (``set_child_priors``). The rollouts thus never wait for a network,
    and Q = (1 - lam) Wv/Nv + lam Wr/Nr mixes however many samples of each a node has.

    The root's priors are the policy network's from the start: computed on the search thread
    when the root is expanded, or in ``start_search`` when a kept root still has tree-policy
    priors. Answers for a finished search are dropped (``end_search``); its unanswered leaves
    may be asked again later, and kept nodes still on tree-policy priors are queued again at
    the next ``start_search``. With ``settle`` the search instead ends by waiting for all the
    answers it asked for, so that every visited leaf has its value (tests, fixed-visit runs)."""

    uses_value = False  # values do not come with the batch: they arrive later
    uses_rollout = True
    independent_samples = True

    def __init__(self, nets, rollouts, max_rows=64, min_rows=32, fill_s=0.004, settle=False):
        if nets.policy is None or rollouts is None:
            raise ValueError("AsyncLeeEvaluator needs a policy network and rollouts")
        self.nets = nets
        self.rollouts = rollouts
        self.max_rows = int(max_rows)  # most positions per network call
        self.min_rows = int(min_rows)  # positions a call waits for, at most fill_s seconds
        self.fill_s = float(fill_s)
        self.settle = bool(settle)  # end_search waits for every queued answer and applies it
        self._cv = threading.Condition()  # guards the fields up to _error
        self._gen = 0  # search generation: answers of another generation are dropped
        self._policy_q = deque()  # node-id arrays waiting for the policy network
        self._value_q = deque()  # node-id arrays waiting for the value network
        self._answers = []  # (gen, pnodes, priors, vnodes, values) not yet applied
        self._ctx = None  # (tree, root board, root ages) of the current search
        self._closing = False  # the worker should stop
        self._inflight = None  # value nodes of the batch the worker is answering, or None
        self._error = None  # exception of the worker, re-raised on the search thread
        self._thread = None  # the worker, started by the first search
        self._batch = None  # LeafBatch of the current search (its .tree follows grow_tree)
        self._asked = np.zeros(0, dtype=np.int32)  # ask_values output buffer
        self._rng = np.random.default_rng(nets.rng.integers(1 << 62))  # root symmetries
        self.applied_values = 0  # value answers backed up, all searches
        self.applied_priors = 0  # policy answers applied
        self.dropped = 0  # answers that arrived after their search ended

    # -- search thread ---------------------------------------------------------------------
    def start_search(self, batch, want_ownership):
        self.rollouts.start_search(batch, want_ownership)
        self.nets.start_search(batch, want_ownership)
        if self._thread is None:
            self._closing = False
            self._thread = threading.Thread(target=self._work, daemon=True,
                                            name="lee-networks")
            self._thread.start()
            atexit.register(self._stop_worker)  # no network call left running at exit
        self._batch = batch
        tree = batch.tree
        root_board = batch.root_state.board
        with self._cv:
            self._gen += 1
            self._policy_q.clear()
            self._value_q.clear()
            self.dropped += sum(len(a[1]) + len(a[3]) for a in self._answers)
            self._answers.clear()
            self._ctx = (tree, root_board, self.nets._root_age)
        flags, first = tree[mcts.T_FLAGS], tree[mcts.T_FIRST]
        if first[0] >= 0 and not flags[0] & mcts.F_NET_PRIOR:
            priors, _ = self._answer_now(tree, [0])
            mcts.set_child_priors(tree, np.zeros(1, dtype=np.int64), priors, 1, self.nets.n)
        used = int(tree[mcts.T_META][mcts.T_COUNT])
        pending = (first[:used] >= 0) & ((flags[:used] & mcts.F_NET_PRIOR) == 0)
        if tree[mcts.T_META][mcts.T_STALE]:  # only nodes still under the root
            live = np.empty(used, dtype=bool)
            mcts.live_nodes(tree, live)
            pending &= live
        stale = np.flatnonzero(pending)
        if len(stale):  # kept nodes still on tree-policy priors, most visited first
            stale = stale[np.argsort(-tree[mcts.T_N][stale], kind="stable")]
            with self._cv:
                self._policy_q.append(stale.astype(np.int64))
                self._cv.notify()

    def _answer_now(self, tree, pnodes):
        return self.nets.answer_nodes(tree[mcts.T_PARENT], tree[mcts.T_MOVE],
                                      self._batch.root_state.board, self.nets._root_age,
                                      pnodes, [], rng=self._rng)

    def apply_answers(self):
        """Back up the values and set the priors that have arrived for this search."""
        with self._cv:
            if self._error is not None:
                err, self._error = self._error, None
                raise err
            answers, self._answers = self._answers, []
            gen = self._gen
        self._apply(answers, gen)

    def _apply(self, answers, gen):
        tree = self._batch.tree
        for g, pnodes, priors, vnodes, values in answers:
            if g != gen:
                self.dropped += len(pnodes) + len(vnodes)
                continue
            if len(pnodes):
                mcts.set_child_priors(tree, pnodes, priors, len(pnodes), self.nets.n)
                self.applied_priors += len(pnodes)
            if len(vnodes):
                mcts.backup_values(tree, vnodes, values, len(vnodes))
                self.applied_values += len(vnodes)

    def evaluate(self, batch):
        self.apply_answers()
        k = batch.count
        tree = batch.tree
        if self._asked.shape[0] < k:
            self._asked = np.zeros(max(k, 64), dtype=np.int32)
        nv = 0
        if self.nets.value is not None:
            nv = mcts.ask_values(tree, batch.leaf, batch.terminal, k, self._asked)
        vnodes = self._asked[:nv].astype(np.int64)
        rows = np.flatnonzero((batch.expand[:k] != 0) & (batch.terminal[:k] == 0))
        grow = batch.leaf[rows].astype(np.int64)
        grow = np.unique(grow[tree[mcts.T_FIRST][grow] < 0])
        root_rows = rows[batch.leaf[rows] == 0]
        grow = grow[grow != 0]
        with self._cv:
            self._ctx = (tree, self._ctx[1], self._ctx[2])  # grow_tree gives new arrays
            if len(grow):
                self._policy_q.append(grow)
            if nv:
                self._value_q.append(vnodes)
            self._cv.notify()
        self.rollouts.evaluate(batch)  # tree-policy priors and playouts, networks meanwhile
        if len(root_rows):  # the root gets the policy network's priors before it expands
            priors, _ = self._answer_now(tree, [0])
            batch.priors[root_rows] = priors[0]
            tree[mcts.T_FLAGS][0] |= mcts.F_NET_PRIOR

    def end_search(self):
        """Apply what has arrived, drop what has not, and let unanswered leaves be asked
        again by a later search."""
        if self._batch is None:
            return
        with self._cv:
            while self.settle and self._error is None and (
                    self._policy_q or self._value_q or self._inflight is not None):
                self._cv.wait(0.05)
            # one step: an answer lands either here, applied, or after, dropped with its
            # nodes counted among the unanswered
            answers, self._answers = self._answers, []
            gen = self._gen
            self._gen += 1
            unanswered = list(self._value_q)
            if self._inflight is not None:
                unanswered.append(self._inflight)
            self._policy_q.clear()
            self._value_q.clear()
        self._apply(answers, gen)
        if unanswered:
            nodes = np.concatenate(unanswered)
            self._batch.tree[mcts.T_FLAGS][nodes] &= np.uint8(~mcts.F_VALUE_ASKED & 0xFF)

    def ownership(self):
        return self.rollouts.ownership() if hasattr(self.rollouts, "ownership") else None

    def _stop_worker(self):
        with self._cv:
            self._closing = True
            self._cv.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
            atexit.unregister(self._stop_worker)

    def close(self):
        self._stop_worker()
        if hasattr(self.rollouts, "close"):
            self.rollouts.close()

    # -- worker thread ---------------------------------------------------------------------
    def _queued(self):
        return sum(len(a) for a in self._policy_q) + sum(len(a) for a in self._value_q)

    def _take(self, q, room):
        out = []
        while q and room > 0:
            a = q.popleft()
            if len(a) > room:
                q.appendleft(a[room:])
                a = a[:room]
            out.append(a)
            room -= len(a)
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def _work(self):
        while True:
            with self._cv:
                while not (self._policy_q or self._value_q or self._closing):
                    self._cv.wait()
                # let a batch fill up a little: the network's cost per position falls with it
                deadline = time.perf_counter() + self.fill_s
                while (not self._closing and self._queued() < self.min_rows
                       and time.perf_counter() < deadline):
                    self._cv.wait(max(deadline - time.perf_counter(), 0.0))
                if self._closing:
                    return
                gen = self._gen
                tree, root_board, root_age = self._ctx
                pnodes = self._take(self._policy_q, self.max_rows)
                vnodes = self._take(self._value_q, self.max_rows - len(pnodes))
                self._inflight = vnodes
            try:
                priors, values = self.nets.answer_nodes(tree[mcts.T_PARENT], tree[mcts.T_MOVE],
                                                        root_board, root_age, pnodes, vnodes)
            except BaseException as e:  # re-raised on the search thread
                with self._cv:
                    self._error = e
                    self._inflight = None
                    self._cv.notify_all()
                continue
            with self._cv:
                self._answers.append((gen, pnodes, priors, vnodes, values))
                self._inflight = None
                self._cv.notify_all()


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
    ``rollout_model``, ``tree_model`` (a node's priors until the policy network's arrive, and
    those of the ``no_policy`` variant), ``beta`` (policy softmax temperature, 0.67),
    ``policy_only`` (the policy network alone, no search), ``no_policy`` (tree-policy priors
    instead of the network's), ``size`` (board size of the shipped files, 9), ``threads``, ``seed``,
    ``visits`` / ``seconds`` and any ``SearchConfig`` field (``lam``: 0 = value net only,
    1 = rollouts only). With rollouts and the policy network the search is asynchronous
    (``AsyncLeeEvaluator``, the paper's APV-MCTS; ``settle``: each search ends by waiting for
    the answers it asked for); ``sync`` makes every batch wait for its network answers
    instead (``LeeEvaluator``)."""
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
    sync = _as_bool(options.pop("sync", False))
    settle = _as_bool(options.pop("settle", False))
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
        tree_priors = policy is None or not sync  # the tree policy gives (the first) priors
        if tree_priors:
            tree = load_rollout_model(tree_model or _shipped("tree_model", n))
        # synchronously the SL priors replace the tree policy's at once: skip computing them
        rollouts = PolicyRolloutEvaluator(load_rollout_model(rollout_model or
                                                             _shipped("rollout_model", n)),
                                          threads=threads, seed=seed, tree_model=tree,
                                          priors=tree_priors)
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
    nets = LeeNetEvaluator(policy, value, n, beta=beta, seed=seed)
    if policy is not None and rollouts is not None and not sync:
        evaluator = AsyncLeeEvaluator(nets, rollouts, settle=settle)
    else:
        evaluator = LeeEvaluator(nets, rollouts)
    player = NetworkPlayer(config, evaluator, n, "lee", budget)
    player.name = f"lee-lam{config.lam:g}" + ("-sync" if sync else "")
    return player
