"""``NetEvaluator``: a policy/value network as an ``engine.search`` evaluator.

Per batch of leaves (``engine.search.LeafBatch``), with one jitted call for each step:

1. history stacks of the leaves (``nets.features.leaf_stacks``): each leaf's path is replayed
   from the root board and the root's history (computed once per search) is appended;
2. cache look-up (optional): rows whose key is cached are answered at once;
3. planes of the remaining rows, each under its own random symmetry (seeded stream);
4. one forward pass of the model under ``torch.inference_mode()``;
5. softmax over actions, the symmetry undone on the policy, the value v in [-1, 1] (side to move)
   mapped to the win probability (v + 1) / 2 the tree expects.

``evaluate_states(states)`` does steps 2-5 for whole ``GameState`` positions (several games'
positions in one forward pass, as self-play needs) and returns (priors, values).

Cache key: ``nets.features.stack_keys``, i.e. the situation hash of the position (stones, side
to move, ko point) mixed with the stone hashes of the 7 positions before it: exactly what the
network input depends on, plus the ko point. A cached answer keeps the symmetry it was computed
under. The cache is LRU, ``cache_size`` entries (0 = off).

The model is put in eval mode (batch norm uses its running statistics) and on ``device``
(CUDA when available unless given). Torch's thread count is left to the caller.
"""
from collections import OrderedDict

import numpy as np
import torch

from engine import mcts
from engine.board import M_TOMOVE, new_board
from nets.features import (HISTORY, PLANES, fill_planes_rows, history_stack, leaf_stacks,
                           stack_keys, unsymmetrize_policy_rows)


class NetEvaluator:
    """Evaluator protocol of ``engine.search``: priors and values from a network."""

    uses_value = True
    uses_rollout = False
    independent_samples = False  # the same leaf twice gives the same answer (up to symmetry)

    def __init__(self, model, board_size, device=None, random_symmetry=True, seed=0, cache_size=0):
        cfg = getattr(model, "config", None)
        if cfg is not None and cfg.board_size != board_size:
            raise ValueError(f"network is for {cfg.board_size}x{cfg.board_size} boards, "
                             f"evaluator asked for {board_size}x{board_size}")
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.n = int(board_size)
        self.random_symmetry = bool(random_symmetry)
        self.rng = np.random.default_rng(seed)  # one symmetry per evaluated position
        self.cache_size = int(cache_size)
        self.cache = OrderedDict()  # key -> (priors float32[N*N+1], win probability)
        self.hits = 0  # cache hits so far
        self.evaluated = 0  # positions sent through the network so far
        self._cap = 0
        self._root_state = None  # the GameState the root stack belongs to
        self._root_stack = None  # history stack of the search root
        self._scratch = new_board(self.n)  # board the leaf paths are replayed on

    # -- buffers ----------------------------------------------------------------------------
    def _buffers(self, rows):
        if rows > self._cap:
            self._cap = max(rows, 2 * self._cap)
            n, ww = self.n, (self.n + 2) ** 2
            self._stacks = np.zeros((self._cap, HISTORY, ww), dtype=np.int8)
            self._keys = np.zeros(self._cap, dtype=np.int64)
            self._planes = np.zeros((self._cap, PLANES, n, n), dtype=np.float32)
            self._priors = np.zeros((self._cap, n * n + 1), dtype=np.float32)

    def _check_size(self, n):
        if n != self.n:
            raise ValueError(f"evaluator is for {self.n}x{self.n} boards, got a {n}x{n} position")

    # -- core -------------------------------------------------------------------------------
    def _run(self, stacks, to_move, metas, count, out_priors, out_values):
        """Answers for rows 0 .. count-1 of ``stacks``: priors into out_priors[i], win
        probabilities for to_move[i] into out_values[i]."""
        keys = self._keys
        todo = np.arange(count, dtype=np.int64)
        if self.cache_size > 0:
            stack_keys(stacks, metas, count, keys)
            miss = []
            for i in range(count):
                hit = self.cache.get(int(keys[i]))
                if hit is None:
                    miss.append(i)
                else:
                    self.cache.move_to_end(int(keys[i]))
                    out_priors[i] = hit[0]
                    out_values[i] = hit[1]
                    self.hits += 1
            todo = np.array(miss, dtype=np.int64)
        m = len(todo)
        if m == 0:
            return
        if self.random_symmetry:
            syms = self.rng.integers(0, 8, size=m).astype(np.int64)
        else:
            syms = np.zeros(m, dtype=np.int64)
        planes = self._planes[:m]
        fill_planes_rows(stacks, to_move, todo, syms, self.n, planes)
        with torch.inference_mode():
            x = torch.from_numpy(planes).to(self.device, non_blocking=True)
            logits, value, _ = self.model(x)
            probs = torch.softmax(logits.float(), dim=1).cpu().numpy()
            wins = ((value.float() + 1.0) * 0.5).clamp_(0.0, 1.0).cpu().numpy()
        priors = self._priors[:m]
        unsymmetrize_policy_rows(probs, syms, m, self.n, priors)
        out_priors[todo] = priors
        out_values[todo] = wins
        self.evaluated += m
        if self.cache_size > 0:
            for j, i in enumerate(todo):
                self.cache[int(keys[i])] = (priors[j].copy(), float(wins[j]))
            while len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)

    # -- evaluator protocol -----------------------------------------------------------------
    def start_search(self, batch, want_ownership):
        """Compute the root's history stack once for this search."""
        self._check_size(batch.n)
        self._root_state = batch.root_state
        self._root_stack = history_stack(batch.root_state)

    def ownership(self):
        return None

    def evaluate(self, batch):
        self._check_size(batch.n)
        k = batch.count
        if k == 0:
            return
        if batch.root_state is not self._root_state:  # a search driven without start_search
            self._root_state = batch.root_state
            self._root_stack = history_stack(batch.root_state)
        self._buffers(k)
        tree = batch.tree
        leaf_stacks(tree[mcts.T_PARENT], tree[mcts.T_MOVE], batch.leaf, k,
                    batch.root_state.board, self._root_stack, self._scratch, self._stacks)
        metas = batch.boards[8]
        to_move = metas[:k, M_TOMOVE]
        self._run(self._stacks, to_move, metas, k, batch.priors, batch.value)

    # -- whole positions ----------------------------------------------------------------------
    def evaluate_states(self, states):
        """(priors float32[B, N*N+1], win probabilities float32[B] for each state's side to
        move) for a list of GameStates of this board size, in one forward pass."""
        count = len(states)
        priors = np.zeros((count, self.n * self.n + 1), dtype=np.float32)
        values = np.zeros(count, dtype=np.float32)
        if count == 0:
            return priors, values
        for s in states:
            self._check_size(s.size)
        self._buffers(count)
        metas = np.zeros((count, states[0].board[8].shape[0]), dtype=np.int64)
        for i, s in enumerate(states):
            self._stacks[i] = history_stack(s)
            metas[i] = s.board[8]
        to_move = metas[:, M_TOMOVE].copy()
        self._run(self._stacks, to_move, metas, count, priors, values)
        return priors, values

