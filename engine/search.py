"""The MCTS player: search settings, evaluators and the Python loop around the Numba kernels.

Layers
------
``engine.mcts`` holds the tree and the jitted kernels. This module drives them:

- ``SearchConfig``: every search setting, frozen, one comment per field.
- Evaluators: turn a ``LeafBatch`` (positions of the leaves chosen by one
  ``select_leaves`` call) into priors, value-net values and/or rollout results.
  ``RolloutEvaluator`` plays jitted playouts (split across threads), ``UniformEvaluator``
  returns fixed answers for tests, ``CombinedEvaluator`` joins a policy/value evaluator with a
  rollout evaluator (AlphaGo Lee: value net + rollouts, mixed by ``lam``).
- ``Search``: one tree for one game: preparing the root (tree reuse, superko filter, Dirichlet
  noise), the batch loop with its budget and early stop, and reading the results
  (``MoveInfo`` lists, move choice, ownership).
- ``MCTSPlayer``: the ``engine.player.Player`` the GTP engine and the match runner use;
  ``make_player(kind, **options)`` builds players from command-line options.

Evaluator protocol
------------------
An evaluator has three attributes and one method::

    uses_value: bool           # fills batch.value (value net)
    uses_rollout: bool         # fills batch.rollout and batch.score (playouts)
    independent_samples: bool  # evaluating a leaf twice gives two samples (true for rollouts):
                               # then one batch may hold the same leaf several times
    evaluate(batch)            # fill the answers for rows 0 .. batch.count - 1

and optionally ``start_search(batch, want_ownership)`` / ``ownership()`` (float32[N*N] mean
final owner, +1 black, or None) / ``end_search()`` (the search is over: an evaluator whose
answers join the tree later, ``nets.lee_evaluator.AsyncLeeEvaluator``, drops the rest).
``evaluate`` must fill ``batch.priors[i]`` (float32[N*N+1] over actions, row-major from the
top-left, N*N = pass; any non-negative scale, illegal moves are ignored) for the rows with
``batch.expand[i]`` set, and values for every row; rows with ``batch.terminal[i]`` set are
scored exactly by the tree and may be skipped. Values are win
probabilities in [0, 1] for the side to move at the leaf (``batch.board(i)[8][M_TOMOVE]``).
The leaf positions must not be modified. A network evaluator builds its input planes from
``batch.board(i)`` and, for history planes, ``batch.path(i)`` (the moves from the root) on top
of ``batch.root_state``.
"""
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields

import numpy as np

from engine import mcts
from engine.board import (BLACK, PASS, RESIGN, M_KO, M_KO_COLOR, M_TOMOVE, copy_board, copy_into,
                          is_eye, new_board)
from engine.config import check
from engine.mcts import (F_DISABLED, T_COUNT, T_FIRST, T_FLAGS, T_META, T_MOVE,
                         T_N, T_NCHILD, T_NR, T_PRIOR, T_REFUSED, T_STALE, T_VL, T_WS)
from engine.player import Budget, MoveInfo, Player, RandomPlayer
from engine.playout import MODE_HEURISTIC, MODE_PATTERN, MODES, default_pattern_weights
from engine.rng import new_rng


@dataclass(frozen=True)
class SearchConfig:
    """Settings of one MCTS player. Values are win probabilities in [0, 1]."""
    c_puct: float = 2.5  # exploration weight of the prior term in PUCT
    fpu_reduction: float = 0.2  # an unvisited child is valued at the parent's Q minus this
    fpu_value: float = -1.0  # if >= 0: fixed value of unvisited children instead (1.0 = try all first)
    lam: float = 1.0  # Q = (1 - lam) * value-net mean + lam * rollout mean; 1 = rollouts only
    expand_threshold: int = 4  # a leaf gets children on its n-th visit (AlphaGo Lee 40, Zero 1)
    virtual_loss: float = 1.0  # lost visits counted per simulation in flight through a node
    batch_size: int = 16  # leaves selected per select_leaves call (per evaluator call)
    max_collisions: int = 8  # leaves given up to in-flight duplicates before a batch closes early
    dirichlet_alpha: float = 0.03  # root noise concentration (AlphaGo Zero: 0.03 on 19x19)
    dirichlet_epsilon: float = 0.0  # weight of root noise in the priors; 0 = off (play), 0.25 self-play
    temperature: float = 0.0  # move choice ~ visits^(1/T); 0 = most visited
    resign_threshold: float = 0.05  # resign when the best move's winrate is below this; 0 = never
    resign_min_visits: int = 1000  # ... and the root has at least this many visits
    early_stop: bool = True  # stop when the most visited move cannot be overtaken in the budget left
    threads: int = 2  # threads playing rollouts of a batch
    playout_mode: int = MODE_HEURISTIC  # engine.playout mode of the rollouts
    seed: int = 0  # seed of every random choice (rollouts, noise, temperature)
    max_tree_nodes: int = 2_000_000  # tree growth stops here; afterwards leaves are not expanded
    initial_tree_nodes: int = 65_536  # first allocation; doubled between batches as needed
    default_visits: int = 1600  # simulations per move when a Budget sets no limit
    info_interval_s: float = 0.25  # seconds between on_info reports during genmove
    ownership_visits: int = 800  # playouts behind ownership() (dead stones)

    def __post_init__(self):
        check(type(self).__name__, [
            (self.c_puct > 0, "c_puct must be positive"),
            (self.fpu_reduction >= 0, "fpu_reduction must not be negative"),
            (self.fpu_value <= 1, "fpu_value must be <= 1 (negative = use fpu_reduction)"),
            (0 <= self.lam <= 1, "lam must be in [0, 1]"),
            (self.expand_threshold >= 1, "expand_threshold must be at least 1"),
            (self.virtual_loss >= 0, "virtual_loss must not be negative"),
            (1 <= self.batch_size <= 4096, "batch_size must be 1..4096"),
            (self.max_collisions >= 1, "max_collisions must be at least 1"),
            (self.dirichlet_alpha > 0, "dirichlet_alpha must be positive"),
            (0 <= self.dirichlet_epsilon <= 1, "dirichlet_epsilon must be in [0, 1]"),
            (self.temperature >= 0, "temperature must not be negative"),
            (0 <= self.resign_threshold < 1, "resign_threshold must be in [0, 1)"),
            (self.resign_min_visits >= 0, "resign_min_visits must not be negative"),
            (1 <= self.threads <= 64, "threads must be 1..64"),
            (self.playout_mode in MODES.values(), f"playout_mode must be one of {MODES}"),
            (self.max_tree_nodes >= 2 * 362, "max_tree_nodes must be at least 724"),
            (self.initial_tree_nodes >= 1, "initial_tree_nodes must be positive"),
            (self.default_visits >= 1, "default_visits must be at least 1"),
            (self.info_interval_s > 0, "info_interval_s must be positive"),
            (self.ownership_visits >= 1, "ownership_visits must be at least 1"),
        ])


# ---------------------------------------------------------------------------------------------
# Leaf batches and evaluators

class LeafBatch:
    """The leaves of one batch (filled by ``select_leaves``) and the evaluator's answers."""

    def __init__(self, n, capacity, komi):
        self.n = n  # board size
        self.capacity = capacity  # rows allocated
        self.komi = komi  # komi of the game, for scoring rollouts
        self.count = 0  # rows in use
        b = new_board(n)
        self.boards = tuple(np.tile(a, (capacity, 1)) for a in b)  # leaf positions, row i = leaf i
        self.leaf = np.zeros(capacity, dtype=np.int32)  # tree node of each row
        self.expand = np.zeros(capacity, dtype=np.uint8)  # 1: the evaluator must give priors
        self.terminal = np.zeros(capacity, dtype=np.uint8)  # 1: game over, scored exactly
        self.priors = np.zeros((capacity, n * n + 1), dtype=np.float32)  # prior by action
        self.value = np.zeros(capacity, dtype=np.float32)  # value net, side to move at the leaf
        self.rollout = np.zeros(capacity, dtype=np.float32)  # rollout result, same view
        self.score = np.zeros(capacity, dtype=np.float32)  # rollout final score, black's view
        self.tree = None  # the tree the leaves belong to (for ``path``)
        self.root_state = None  # GameState at the root (history for network planes)

    def board(self, i):
        """Position of leaf i (a board tuple of views into the batch; do not modify)."""
        return mcts.batch_board(self.boards, i)

    def path(self, i):
        """Moves from the root to leaf i, root side to move first."""
        return [int(x) for x in mcts.path_moves(self.tree, int(self.leaf[i]))]


class UniformEvaluator:
    """Fixed answers, for tests: uniform priors over legal moves, ``value`` as value-net output
    and/or ``rollout`` as rollout result (for the side to move at every leaf); ``None`` leaves
    that kind out."""

    independent_samples = False

    def __init__(self, value=0.5, rollout=None, score=0.0):
        if value is None and rollout is None:
            raise ValueError("UniformEvaluator needs a value, a rollout result or both")
        self.value_const = value
        self.rollout_const = rollout
        self.score_const = score
        self.uses_value = value is not None
        self.uses_rollout = rollout is not None
        self.calls = 0  # evaluate() calls, to check batching

    def evaluate(self, batch):
        self.calls += 1
        k = batch.count
        for i in range(k):
            if batch.expand[i]:
                b = batch.board(i)
                mcts.uniform_priors(b, b[8][M_TOMOVE], batch.priors[i])
        if self.uses_value:
            batch.value[:k] = self.value_const
        if self.uses_rollout:
            batch.rollout[:k] = self.rollout_const
            batch.score[:k] = self.score_const


class RolloutEvaluator:
    """Playouts from each leaf (``engine.playout.run_playout``) with ``mcts.leaf_priors`` as the
    prior; the rows of a batch are split into contiguous ranges, one per thread. Each thread has
    its own seeded random stream, so a search is reproducible for a given thread count."""

    uses_value = False
    uses_rollout = True
    independent_samples = True

    def __init__(self, mode=MODE_HEURISTIC, threads=1, seed=0, pat_weights=None):
        self.mode = int(mode)
        self.threads = int(threads)
        self.seed = int(seed)
        if pat_weights is None:
            pat_weights = (default_pattern_weights() if self.mode == MODE_PATTERN
                           else np.ones(1, dtype=np.float32))
        self.pat_weights = np.ascontiguousarray(pat_weights, dtype=np.float32)
        self._rngs = [new_rng(self.seed * 1000003 + t) for t in range(self.threads)]
        self._pool = ThreadPoolExecutor(self.threads - 1) if self.threads > 1 else None
        self._n = 0
        self._want_owner = False
        self._owner_count = 0

    def _scratch(self, n):
        if n != self._n:
            self._n = n
            self._boards = [new_board(n) for _ in range(self.threads)]
            self._owner_tmp = [np.zeros(n * n, dtype=np.int8) for _ in range(self.threads)]
            self._owner_sum = [np.zeros(n * n, dtype=np.float64) for _ in range(self.threads)]

    def start_search(self, batch, want_ownership):
        """Reset the ownership sums; collect them during this search if ``want_ownership``."""
        self._scratch(batch.n)
        self._want_owner = bool(want_ownership)
        for s in self._owner_sum:
            s[:] = 0.0
        self._owner_count = 0

    def ownership(self):
        """Mean Tromp-Taylor owner at the end of this search's playouts (+1 black), or None."""
        if not self._want_owner or self._owner_count == 0:
            return None
        return (sum(self._owner_sum) / self._owner_count).astype(np.float32)

    def _run(self, batch, t, lo, hi):
        mcts.rollout_batch(batch.boards, lo, hi, batch.expand, batch.terminal, batch.priors,
                           batch.rollout, batch.score, self._rngs[t], self.mode, batch.komi,
                           self.pat_weights, self._boards[t], self._want_owner,
                           self._owner_tmp[t], self._owner_sum[t])

    def evaluate(self, batch):
        self._scratch(batch.n)
        k = batch.count
        if self._want_owner:
            self._owner_count += k - int(batch.terminal[:k].sum())
        parts = min(self.threads, k)
        if parts <= 1:
            self._run(batch, 0, 0, k)
            return
        bounds = [k * t // parts for t in range(parts + 1)]
        # the calling thread takes the first range itself: one thread handoff fewer per batch
        futures = [self._pool.submit(self._run, batch, t, bounds[t], bounds[t + 1])
                   for t in range(1, parts)]
        self._run(batch, 0, bounds[0], bounds[1])
        for f in futures:
            f.result()

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None


class CombinedEvaluator:
    """Priors and values from ``net`` (a policy/value evaluator) plus rollout results from
    ``rollouts``: the AlphaGo Lee leaf evaluation, mixed in the tree by ``SearchConfig.lam``."""

    def __init__(self, net, rollouts):
        if not net.uses_value or not rollouts.uses_rollout:
            raise ValueError("CombinedEvaluator needs a value evaluator and a rollout evaluator")
        self.net = net
        self.rollouts = rollouts
        self.uses_value = True
        self.uses_rollout = True
        self.independent_samples = net.independent_samples and rollouts.independent_samples

    def start_search(self, batch, want_ownership):
        for e in (self.rollouts, self.net):
            if hasattr(e, "start_search"):
                e.start_search(batch, want_ownership)

    def ownership(self):
        return self.rollouts.ownership() if hasattr(self.rollouts, "ownership") else None

    def evaluate(self, batch):
        # the rollout evaluator may write priors too: the net's must win, so it goes last
        self.rollouts.evaluate(batch)
        self.net.evaluate(batch)


# ---------------------------------------------------------------------------------------------
# The search

def _black_lead(color, black_score):
    """A black-minus-white score as the lead of ``color``."""
    return black_score if color == BLACK else -black_score


def _lcb(q, n):
    """Lower 95% bound of a winrate q measured over n visits (normal approximation)."""
    if n <= 0:
        return 0.0
    return max(0.0, q - 1.96 * math.sqrt(max(q * (1.0 - q), 0.0) / n + 1e-12) - 1.0 / n)


class DirichletNoise:
    """Root noise: Dirichlet(alpha, ..., alpha) vectors of any length from one generator.

    A Dirichlet vector of length k is k independent Gamma(alpha) variates divided by their
    sum. From alpha 0.1 up the variates are drawn ``BLOCK`` at a time and each call takes the
    next k of them: one numpy call per move took about 36 µs in the self-play loop, where the
    tree work between moves leaves numpy's code out of the cache. Smaller alphas (0.03 on
    19x19) draw with numpy's ``dirichlet`` per call, whose method does not let variates this
    small underflow to zero."""

    BLOCK = 4096

    def __init__(self, rng, alpha):
        self.rng = rng  # the generator the variates come from
        self.alpha = float(alpha)
        self._block = np.zeros(0)  # Gamma(alpha) variates drawn ahead
        self._at = 0  # the next one not used yet

    def draw(self, k):
        """(values float64[>= start + k], start): the noise is values[start:start + k] over
        their sum (a Dirichlet vector itself when alpha < 0.1)."""
        if self.alpha < 0.1:
            return self.rng.dirichlet(np.full(k, self.alpha)), 0
        if self._at + k > len(self._block):
            self._block = self.rng.standard_gamma(self.alpha, max(self.BLOCK, k))
            self._at = 0
        start = self._at
        self._at = start + k
        return self._block, start


_NO_POLICY = np.zeros(0, dtype=np.float32)  # root_results: no visit policy wanted


class Search:
    """One search tree over the positions of one game, reused from move to move."""

    def __init__(self, config=None, evaluator=None):
        self.config = config or SearchConfig()
        cfg = self.config
        self.evaluator = evaluator or RolloutEvaluator(cfg.playout_mode, cfg.threads, cfg.seed)
        self.tree = None  # tuple of arrays (engine.mcts), root = node 0
        self.root_board = None  # the root position, side to move = root_color (rewritten in place)
        self.root_color = None  # colour to move at the root
        self.root_history = None  # game moves up to the root, for tree reuse
        self.root_state = None  # copy of the GameState at the root
        self.scratch = None  # a board the kernels replay positions on (tree reuse, selection)
        self.batch = None  # LeafBatch for the board size
        self.rng = np.random.default_rng(cfg.seed)  # Dirichlet noise and temperature
        self._dirichlet = None  # DirichletNoise drawing from rng (setup_root)
        self.sims = 0  # simulations of the last run()
        self._clean_priors = None  # root priors before noise
        self._noise = True  # add root noise in this search (prepare's ``noise``)
        self._pass_ok = True  # the root may pass in this search (prepare's ``forbid_losing_pass``)
        self._legal = None  # bool by padded point, the last entry PASS: the root's legal moves
        self._ranked = None  # int64[N*N+1]: the ids root_results ranks into
        self._root_pending = False  # the batch in flight expands the root (step-wise driving)

    # -- root -----------------------------------------------------------------------------
    def _batch_for(self, state):
        """The leaf batch, rebuilt when the board size or komi changed."""
        if self.batch is None or self.batch.n != state.size or self.batch.komi != state.komi:
            self.batch = LeafBatch(state.size, self.config.batch_size, state.komi)
        return self.batch

    def _reuse(self, state, color):
        """Root node of the current position in the kept tree, or None."""
        old_state = self.root_state
        if (self.tree is None or old_state is None or old_state.size != state.size
                or old_state.komi != state.komi or old_state.ko_rule != state.ko_rule):
            return None
        old = self.root_history
        hist = state.history
        if len(hist) < len(old) or hist[:len(old)] != old:
            return None
        new = hist[len(old):]
        c = self.root_color
        for mv in new:  # the moves since, alternating from the root's colour
            if mv.color != c:
                return None
            c = 3 - c
        if c != color:
            return None
        sb = state.board
        node = mcts.follow_moves(self.tree, self.root_board, self.scratch,
                                 np.array([mv.point for mv in new], dtype=np.int64), sb[0],
                                 sb[8][M_KO], sb[8][M_KO_COLOR])
        return node if node >= 0 else None

    def prepare(self, state, color, want_ownership=False, noise=True, forbid_losing_pass=False):
        """Set the root to ``state`` with ``color`` to move, keeping the subtree of the moves
        played since the last search when the tree holds them. ``noise=False`` leaves out the
        root's Dirichlet noise for this search only (cheap self-play searches).
        ``forbid_losing_pass``: the root may not pass while passing would hand the opponent a
        Tromp-Taylor win and a move that fills no own eye exists (see ``no_losing_pass``), so
        no visit and no policy target goes to such a pass. Returns the root's visits."""
        self._noise = bool(noise)
        node = self._reuse(state, color)
        if node is None:
            if self.tree is not None:
                mcts.clear_tree(self.tree)  # its arrays, grown as they are, serve again
            else:
                cfg = self.config
                self.tree = mcts.new_tree(min(cfg.initial_tree_nodes, cfg.max_tree_nodes))
        else:
            if node != 0:
                mcts.promote_root(self.tree, node)  # the kept subtree, root 0, where it is
            tree = self.tree
            cap = len(tree[T_MOVE])
            if tree[T_META][T_STALE] and 4 * tree[T_META][T_COUNT] > 3 * cap:
                # three quarters full: drop what earlier moves cut off, before the search
                # (node ids change here only, never while a search runs), and double the
                # tree while what is kept fills more than a quarter of it, so that several
                # moves go by before the next compaction, which reads and moves it all
                mcts.reroot_in_place(tree, 0)
                cap_max = self.config.max_tree_nodes
                if 4 * tree[T_META][T_COUNT] > cap and cap < cap_max:
                    self.tree = mcts.grow_tree(tree, min(cap_max, 2 * cap))
        if self.root_board is not None and len(self.root_board[0]) == len(state.board[0]):
            copy_into(self.root_board, state.board)  # no new arrays for the batched loops to learn
        else:
            self.root_board = copy_board(state.board)
        self.root_board[8][M_TOMOVE] = color
        self.root_color = color
        self.root_history = list(state.history)
        self.root_state = state.copy()
        if color != self.root_state.to_move:
            self.root_state.to_move = color
        if self.scratch is None or len(self.scratch[0]) != len(state.board[0]):
            self.scratch = new_board(state.size)  # the kernels' working board
        self._batch_for(state)
        self.batch.tree = self.tree
        self.batch.root_state = self.root_state
        ww = len(state.board[0])
        if self._legal is None or len(self._legal) != ww + 1:
            self._legal = np.zeros(ww + 1, dtype=bool)  # by padded point; the last: PASS
        all_eyes = state.legal_flags(color, self._legal)
        # (the eye test first: scoring the position costs a flood fill)
        self._pass_ok = not forbid_losing_pass or all_eyes or _tt_wins(state, color)
        self._legal[PASS] = self._pass_ok
        if hasattr(self.evaluator, "start_search"):
            self.evaluator.start_search(self.batch, want_ownership)
        if self.tree[T_FIRST][0] >= 0:
            self.setup_root()
        return int(self.tree[T_N][0])

    def give_tree(self, tree):
        """Let this search use the arrays of ``tree`` (a finished search's, no longer used)
        for its next search: that one starts afresh in them rather than allocating a tree
        and growing it. A batched loop passes each finished game's tree to the next game."""
        self.tree = tree
        self.root_state = None  # nothing in it to reuse

    def _root_children(self):
        f = int(self.tree[T_FIRST][0])
        return range(f, f + int(self.tree[T_NCHILD][0])) if f >= 0 else range(0)

    def setup_root(self):
        """Disable root children the superko rule forbids (and a losing pass, when ``prepare``
        was asked to) and add Dirichlet noise if configured
        (``run`` calls this once the root is expanded; ``run`` ends by removing the noise)."""
        cfg = self.config
        m = int(self.tree[T_NCHILD][0])
        ok = np.empty(m, dtype=np.int64)  # ids of the enabled children
        self._clean_priors = np.empty(m, dtype=np.float32)
        k = mcts.filter_root(self.tree, self._legal, ok, self._clean_priors)
        if cfg.dirichlet_epsilon > 0 and self._noise and k > 0:
            d = self._dirichlet
            if d is None or d.rng is not self.rng or d.alpha != cfg.dirichlet_alpha:
                self._dirichlet = DirichletNoise(self.rng, cfg.dirichlet_alpha)
            values, start = self._dirichlet.draw(k)
            mcts.mix_root_noise(self.tree[T_PRIOR], ok, k, values, start, cfg.dirichlet_epsilon)

    def _restore_priors(self):
        if self._clean_priors is not None:
            kids = self._root_children()
            if len(kids) == len(self._clean_priors):
                self.tree[T_PRIOR][kids.start:kids.stop] = self._clean_priors

    # -- simulations ------------------------------------------------------------------------
    def ensure_room(self, k):
        """Grow the tree (a new ``self.tree``) if expanding ``k`` more leaves might not fit.
        Node ids stay as they are (an evaluator may hold some during a search)."""
        cfg = self.config
        cap = self.tree[T_MOVE].shape[0]
        used = int(self.tree[T_META][T_COUNT])
        need = k * (self.batch.n * self.batch.n + 1)
        if used + need > cap and cap < cfg.max_tree_nodes:
            self.tree = mcts.grow_tree(self.tree, min(cfg.max_tree_nodes, max(2 * cap, used + need)))
            self.batch.tree = self.tree

    def _step(self, k):
        """One batch of up to k simulations; returns how many ran."""
        cfg = self.config
        ev = self.evaluator
        self.ensure_room(k)
        bt = self.batch
        count, _ = mcts.select_leaves(
            self.tree, self.root_board, self.scratch, bt.boards, bt.leaf, bt.expand, bt.terminal,
            k, cfg.c_puct, cfg.fpu_reduction, cfg.fpu_value, cfg.lam, cfg.virtual_loss,
            cfg.expand_threshold, ev.independent_samples, cfg.max_collisions)
        bt.count = count
        try:
            ev.evaluate(bt)
        except BaseException:
            mcts.release_batch(self.tree, bt.leaf, count)  # the tree stays usable
            raise
        mcts.expand_and_backup(self.tree, bt.boards, bt.leaf, bt.expand, bt.terminal, count,
                               bt.priors, bt.value, bt.rollout, bt.score, ev.uses_value,
                               ev.uses_rollout, bt.komi)
        return count

    # -- step-wise driving: many searches sharing one evaluator call -------------------------
    def begin_batch(self, k=None):
        """Select up to ``k`` leaves (at most ``config.batch_size``; that many when None) and
        return the ``LeafBatch`` holding them, ``count`` set. The caller fills the answers as
        an evaluator would (``evaluate`` protocol above), then calls ``finish_batch`` (or
        ``abort_batch`` if it cannot). While the root has no children the batch holds the root
        alone. ``prepare`` must have been called; ``end_search`` closes the search."""
        cfg = self.config
        k = cfg.batch_size if k is None else min(int(k), cfg.batch_size)
        if k < 1:
            raise ValueError("begin_batch needs k >= 1")
        self._root_pending = bool(self.tree[T_FIRST][0] < 0)
        if self._root_pending:
            k = 1
        self.ensure_room(k)
        bt = self.batch
        count, _ = mcts.select_leaves(
            self.tree, self.root_board, self.scratch, bt.boards, bt.leaf, bt.expand, bt.terminal,
            k, cfg.c_puct, cfg.fpu_reduction, cfg.fpu_value, cfg.lam, cfg.virtual_loss,
            cfg.expand_threshold, self.evaluator.independent_samples, cfg.max_collisions)
        bt.count = count
        return bt

    def finish_batch(self, batch):
        """Expand and back up the answered ``batch`` from ``begin_batch``; once the root has
        its children, prepare them (superko filter, noise: ``setup_root``). Returns the
        number of simulations finished."""
        ev = self.evaluator
        count = batch.count
        mcts.expand_and_backup(self.tree, batch.boards, batch.leaf, batch.expand, batch.terminal,
                               count, batch.priors, batch.value, batch.rollout, batch.score,
                               ev.uses_value, ev.uses_rollout, batch.komi)
        if self._root_pending and self.tree[T_FIRST][0] >= 0:
            self.setup_root()
        self._root_pending = False
        return count

    def abort_batch(self, batch):
        """Take back the virtual losses of a batch that will not be answered."""
        mcts.release_batch(self.tree, batch.leaf, batch.count)
        batch.count = 0
        self._root_pending = False

    def end_search(self):
        """Close a step-wise search: the root's noise is removed (``infos`` and later searches
        see the clean priors)."""
        self._restore_priors()
        self._end_evaluation()

    def _end_evaluation(self):
        """Tell an evaluator that answers asynchronously (``end_search``) that the search is over."""
        end = getattr(self.evaluator, "end_search", None)
        if end is not None:
            end()

    def run(self, visits=None, seconds=None, stop=None, on_info=None, info_interval_s=None,
            want_ownership=False, early_stop=None):
        """Simulate until ``visits`` new simulations, ``seconds`` of wall time or ``stop`` is set
        (at least one must be given), reporting to ``on_info`` every ``info_interval_s``.
        Returns the number of simulations run."""
        if visits is None and seconds is None and stop is None:
            raise ValueError("run() needs visits, seconds or a stop event")
        cfg = self.config
        early = cfg.early_stop if early_stop is None else early_stop
        early = early and cfg.temperature == 0
        interval = cfg.info_interval_s if info_interval_s is None else info_interval_s
        t0 = time.perf_counter()
        next_info = t0 + interval
        sims = 0
        try:
            if self.tree[T_FIRST][0] < 0:
                sims += self._step(1)
                self.setup_root()
            while True:
                if stop is not None and stop.is_set():
                    break
                now = time.perf_counter()
                if seconds is not None and now - t0 >= seconds:
                    break
                k = cfg.batch_size
                if visits is not None:
                    if sims >= visits:
                        break
                    k = min(k, visits - sims)
                sims += self._step(k)
                now = time.perf_counter()
                if on_info is not None and now >= next_info:
                    next_info = now + interval
                    on_info(self.infos(), self.ownership() if want_ownership else None)
                if early and self._decided(sims, visits, seconds, now - t0):
                    break
        finally:
            self._restore_priors()
            self._end_evaluation()
        self.sims = sims
        return sims

    def _decided(self, sims, visits, seconds, elapsed):
        """True when the most visited root move can no longer be overtaken."""
        left = math.inf
        if visits is not None:
            left = visits - sims
        if seconds is not None and elapsed > 0:
            left = min(left, sims / elapsed * max(seconds - elapsed, 0.0))
        if left == math.inf:
            return False
        n = self.tree[T_N]
        counts = sorted((int(n[j]) for j in self._root_children()
                         if not self.tree[T_FLAGS][j] & F_DISABLED), reverse=True)
        if len(counts) < 2:
            return True
        return counts[0] - counts[1] > left

    # -- results ----------------------------------------------------------------------------
    def q(self, j):
        """Winrate of node j for the player who moved into it (root children: the root player)."""
        return float(mcts.node_q(self.tree, j, self.config.lam))

    def root_value(self):
        """Winrate of the player to move at the root, from all simulations so far."""
        q = self.q(0)
        return float(mcts.flip(q)) if q >= 0 else 0.5

    def results(self, policy=None):
        """(``ranked()``, the value a resignation reads: the larger of ``root_value()`` and
        the best move's ``q``, for the player to move) in one jitted call; ``policy``
        (float32[N*N+1]), when given, gets the root's visit distribution over actions
        (``mcts.root_visit_policy``)."""
        n = self.batch.n
        if self._ranked is None or len(self._ranked) != n * n + 1:
            self._ranked = np.empty(n * n + 1, dtype=np.int64)  # room for every root child
        count, value, best = mcts.root_results(self.tree, self.config.lam, n, self._ranked,
                                               _NO_POLICY if policy is None else policy)
        return self._ranked[:count].tolist(), max(value, best)

    def ranked(self):
        """Enabled root children with visits, best first (visits, then winrate)."""
        if self.tree[T_FIRST][0] < 0:
            return []
        out = np.empty(int(self.tree[T_NCHILD][0]), dtype=np.int64)
        count = mcts.ranked_children(self.tree, 0, self.config.lam, out)
        return out[:count].tolist()

    def pv(self, j, limit=24):
        """Most visited line starting with node j, as moves."""
        tree = self.tree
        out = [int(tree[T_MOVE][j])]
        while len(out) < limit and tree[T_FIRST][j] >= 0:
            f = int(tree[T_FIRST][j])
            m = int(tree[T_NCHILD][j])
            best = f + int(np.argmax(tree[T_N][f:f + m]))
            if tree[T_N][best] == 0:
                break
            out.append(int(tree[T_MOVE][best]))
            j = best
        return out

    def infos(self):
        """``MoveInfo`` per visited root move, best first, for the player to move at the root."""
        tree = self.tree
        prior = self._clean_priors
        f = int(tree[T_FIRST][0])
        res = []
        for order, j in enumerate(self.ranked()):
            q = self.q(j)
            nv = int(tree[T_N][j])
            nr = int(tree[T_NR][j])
            lead = _black_lead(self.root_color, tree[T_WS][j] / nr) if nr else 0.0
            p = float(prior[j - f]) if prior is not None and j - f < len(prior) else float(tree[T_PRIOR][j])
            res.append(MoveInfo(move=int(tree[T_MOVE][j]), visits=nv, winrate=q, prior=p,
                                lcb=_lcb(q, nv), order=order, pv=self.pv(j), score_lead=float(lead)))
        return res

    def ownership(self):
        """Mean final owner (+1 black) over this search's rollouts, or None without rollouts."""
        return self.evaluator.ownership() if hasattr(self.evaluator, "ownership") else None

    def playout_ownership(self, state, playouts):
        """Mean final owner over ``playouts`` rollouts straight from ``state`` (no tree, so no
        exploratory moves in the average), or None when the evaluator plays no rollouts."""
        ev = self.evaluator
        if not ev.uses_rollout or not hasattr(ev, "ownership"):
            return None
        bt = self._batch_for(state)
        for a, arr in zip(state.board, bt.boards):
            arr[:] = a
        bt.expand[:] = 0
        bt.terminal[:] = 0
        ev.start_search(bt, True)
        done = 0
        while done < playouts:
            bt.count = min(bt.capacity, playouts - done)
            ev.evaluate(bt)
            done += bt.count
        return ev.ownership()

    def choose(self, temperature=None, ranked=None):
        """Root move to play: the most visited (temperature 0) or sampled by visits^(1/T).
        ``ranked``: ``self.ranked()`` when the caller has it already."""
        t = self.config.temperature if temperature is None else temperature
        if ranked is None:
            ranked = self.ranked()
        if not ranked:
            return PASS
        if t <= 0:
            return int(self.tree[T_MOVE][ranked[0]])
        n = np.array([self.tree[T_N][j] for j in ranked], dtype=np.float64)
        w = np.exp((np.log(n) - np.log(n.max())) / t)
        j = ranked[int(self.rng.choice(len(ranked), p=w / w.sum()))]
        return int(self.tree[T_MOVE][j])

    def stats(self):
        """Tree counters: nodes used, capacity, refused expansions, leftover virtual loss."""
        t = self.tree
        used = int(t[T_META][T_COUNT])
        return {"nodes": used, "capacity": int(t[T_MOVE].shape[0]),
                "refused": int(t[T_META][T_REFUSED]), "virtual_loss": int(np.abs(t[T_VL][:used]).sum())}


# ---------------------------------------------------------------------------------------------
# The player

def _tt_wins(state, color):
    """True when ``color`` wins if the game ended now, by Tromp-Taylor with komi."""
    s = state.score()
    return s > 0 if color == BLACK else s < 0


def no_losing_pass(search, state, color, move):
    """``move``, unless it is a pass that would hand the opponent a Tromp-Taylor win (the
    opponent can end the game by passing at once): then the best searched move that is neither
    pass nor the filling of an own eye, or the first legal such move; PASS only if none.
    Small or young networks pass whenever every move looks equally lost; this keeps the
    players, self-play and gating from throwing games away that way."""
    if move != PASS or _tt_wins(state, color):
        return move
    for j in search.ranked():
        p = int(search.tree[T_MOVE][j])
        if p != PASS and not is_eye(state.board, p, color):
            return p
    for p in sorted(state.legal_points(color)):
        if not is_eye(state.board, p, color):
            return p
    return PASS


class MCTSPlayer(Player):
    """PUCT tree search player (rollout evaluator unless another is given)."""
    name = "mcts"

    def __init__(self, config=None, evaluator=None, default_budget=None):
        self.config = config or SearchConfig()
        self.search = Search(self.config, evaluator)
        self.default_budget = default_budget or Budget(visits=self.config.default_visits)
        # one search at a time (GTP analysis runs on a thread); reentrant because on_info
        # callbacks may ask for ownership while a search holds the lock
        self._lock = threading.RLock()

    def new_game(self, state):
        with self._lock:
            self.search.tree = None

    def genmove(self, state, color, budget, on_info=None):
        t0 = time.perf_counter()
        if budget is None or (budget.visits is None and budget.seconds is None):
            budget = self.default_budget
        last = state.last_move
        if last is not None and last.point == PASS and last.color != color and _tt_wins(state, color):
            return PASS  # the opponent passed and the game ends in our favour
        with self._lock:
            s = self.search
            s.prepare(state, color, forbid_losing_pass=True)
            seconds = budget.seconds
            if seconds is not None:
                seconds = max(0.0, seconds - (time.perf_counter() - t0))
            reported = []

            def report(infos, ownership):
                reported.append(True)
                on_info(infos, ownership)

            s.run(visits=budget.visits, seconds=seconds,
                  on_info=report if on_info is not None else None)
            if not s.ranked() and s._root_children():
                # the clock ran out before any move got a visit (a slow first move: loading
                # networks, compiling): a few simulations beat answering pass on an open board
                s.run(visits=max(1, self.config.batch_size), early_stop=False)
            ranked = s.ranked()
            if on_info is not None and not reported and ranked:
                # a search shorter than one report interval still shows its analysis once
                # (genmove_analyze: a GUI expects an info line before the move)
                on_info(s.infos(), None)
            if not ranked:
                return PASS
            cfg = self.config
            best = ranked[0]
            if (cfg.resign_threshold > 0 and s.tree[T_N][0] >= cfg.resign_min_visits
                    and s.q(best) < cfg.resign_threshold):
                return RESIGN
            return no_losing_pass(s, state, color, s.choose())

    def analyze(self, state, color, stop, interval_s, on_info, want_ownership=False):
        with self._lock:
            s = self.search
            s.prepare(state, color, want_ownership=want_ownership)
            chunk = max(float(interval_s or 0.0), 0.02)  # a zero interval must still search
            while not stop.is_set():
                s.run(seconds=chunk, stop=stop, early_stop=False, want_ownership=want_ownership)
                if s.ranked():
                    on_info(s.infos(), s.ownership() if want_ownership else None)

    def ownership(self, state):
        with self._lock:
            own = self.search.playout_ownership(state, self.config.ownership_visits)
        if own is None:
            return super().ownership(state)
        return own


class NetworkPlayer(MCTSPlayer):
    """AlphaGo Zero player: PUCT search on a network's priors and values (no rollouts).
    The network plays one board size; other sizes get a clear error instead of a crash."""

    def __init__(self, config, evaluator, board_size, net_name, default_budget=None):
        super().__init__(config, evaluator, default_budget)
        self.board_size = board_size
        self.name = f"zero-{net_name}"

    def _check(self, state):
        if state.size != self.board_size:
            raise ValueError(f"the network plays {self.board_size}x{self.board_size} only, "
                             f"the board is {state.size}x{state.size}")

    def genmove(self, state, color, budget, on_info=None):
        self._check(state)
        return super().genmove(state, color, budget, on_info)

    def analyze(self, state, color, stop, interval_s, on_info, want_ownership=False):
        self._check(state)
        return super().analyze(state, color, stop, interval_s, on_info, want_ownership)


# AlphaGo Zero search settings: expand every leaf at once, value network only.
ZERO_DEFAULTS = dict(lam=0.0, expand_threshold=1, batch_size=8, c_puct=1.5, fpu_reduction=0.25,
                     resign_min_visits=100, default_visits=400)


def _zero_player(weights, threads, seed, options, budget, precision="auto"):
    import torch  # imported here: the rollout player starts without torch

    from nets.checkpoint import load_checkpoint
    from nets.evaluator import NetEvaluator
    torch.set_num_threads(max(1, int(threads)))
    model, net_config, _step, _payload = load_checkpoint(weights)
    config = SearchConfig(**{**ZERO_DEFAULTS, **options, "threads": 1, "seed": int(seed)})
    # int8_ok: "auto" plays int8 on a CPU with int8 dot products, the fastest search there
    evaluator = NetEvaluator(model, net_config.board_size, seed=int(seed), precision=precision,
                             int8_ok=True)
    if config.lam > 0:  # AlphaGo Lee's mixed leaf value: the network and a playout per leaf
        rollouts = RolloutEvaluator(config.playout_mode, threads=max(1, int(threads)),
                                    seed=int(seed))
        evaluator = CombinedEvaluator(evaluator, rollouts)
    return NetworkPlayer(config, evaluator, net_config.board_size, net_config.name, budget)


# Board sizes on which ``auto`` plays the shipped network without being given one: those where
# the network has been measured stronger than pure MCTS at equal time (docs/ZERO-9x9.md,
# "Stage 7"). 19x19 has no shipped network.
AUTO_SHIPPED_SIZES = (9,)


def _auto_player(weights, options):
    """The network of ``weights`` (or a shipped network of ``AUTO_SHIPPED_SIZES``) on its board
    size, pure MCTS on the other sizes; the network and torch load when its size is first
    played."""
    from engine.player import BySizePlayer
    from nets import shipped_weights
    fallback = make_player("mcts", **{k: v for k, v in options.items() if k != "lam"})
    nets_by_size = {}
    if weights is not None:
        from nets.checkpoint import read_payload
        nets_by_size[int(read_payload(weights)["board_size"])] = weights
    for size in AUTO_SHIPPED_SIZES:
        if size not in nets_by_size and shipped_weights(size) is not None:
            nets_by_size[size] = shipped_weights(size)
    if not nets_by_size:
        return fallback

    def builder(path):
        return lambda: make_player("zero", weights=path, **options)

    return BySizePlayer({n: builder(p) for n, p in nets_by_size.items()}, fallback,
                        names={n: os.path.basename(p) for n, p in nets_by_size.items()})


def make_player(kind, **options):
    """Player for the GTP command line and the match runner.

    ``kind``: 'auto' (the default of ``python -m gtp``: the network given by ``weights`` on
    its size, pure MCTS elsewhere), 'mcts', 'zero' (a network alone: ``weights``, by default
    the shipped 9x9 network), 'lee' (AlphaGo Lee: SL policy priors, value net and rollout
    policy, ``nets.lee_evaluator.make_lee_player``) or 'random'.
    Options: any ``SearchConfig`` field (``playout_mode`` may be a name from
    ``engine.playout.MODES``; ``lam`` > 0 gives the 'zero' player a playout per leaf mixed in
    AlphaGo Lee's way), ``visits`` / ``seconds`` (budget when the caller gives none),
    ``weights`` (checkpoint of the network), ``precision`` (of the network's forward pass,
    ``nets.evaluator.PRECISIONS``; default "auto"; players without a network ignore it) and
    ``ko_rule`` (accepted and ignored: the game state carries the rule). Options set to None are
    ignored."""
    options = {k: v for k, v in options.items() if v is not None}
    options.pop("ko_rule", None)
    weights = options.pop("weights", None)
    precision = options.pop("precision", "auto")
    if kind == "auto":
        return _auto_player(weights, {**options, "precision": precision})
    if kind == "zero":
        if weights is None:
            from nets import SHIPPED, shipped_weights
            weights = shipped_weights(9)
            if weights is None:
                raise ValueError(f"zero player: give the network checkpoint with --weights PATH "
                                 f"(the shipped nets/weights/{SHIPPED[9]} is missing)")
        options.pop("playout_mode", None)
        threads = options.pop("threads", 1)
        seed = options.pop("seed", 0)
        visits = options.pop("visits", None)
        seconds = options.pop("seconds", None)
        budget = None
        if visits is not None or seconds is not None:
            budget = Budget(visits=None if visits is None else int(visits),
                            seconds=None if seconds is None else float(seconds))
        bad = sorted(set(options) - {f.name for f in fields(SearchConfig)})
        if bad:
            raise ValueError(f"zero player: unknown options {bad}")
        return _zero_player(weights, threads, seed, options, budget, precision)
    if kind == "lee":
        from nets.lee_evaluator import make_lee_player
        return make_lee_player({**options, "weights": weights})
    if kind == "random":
        seed = options.pop("seed", 0)
        extra = set(options) - {"threads", "visits", "seconds", "resign_threshold", "playout_mode"}
        if extra:
            raise ValueError(f"random player: unknown options {sorted(extra)}")
        return RandomPlayer(seed=int(seed))
    if kind != "mcts":
        raise ValueError(f"unknown player kind {kind!r}: choose 'auto', 'mcts', 'zero', 'lee' "
                         "or 'random'")
    if options.get("lam", 1.0) != 1.0:
        raise ValueError("the mcts player has no value network: lam must be 1 (give a network "
                         "with --weights to mix its value with playouts)")
    visits = options.pop("visits", None)
    seconds = options.pop("seconds", None)
    mode = options.get("playout_mode")
    if isinstance(mode, str):
        if mode.lower() in MODES:
            options["playout_mode"] = MODES[mode.lower()]
        elif mode.isdigit():
            options["playout_mode"] = int(mode)
        else:
            raise ValueError(f"unknown playout mode {mode!r}: choose one of {sorted(MODES)}")
    known = {f.name: f.type for f in fields(SearchConfig)}
    bad = sorted(set(options) - set(known))
    if bad:
        raise ValueError(f"mcts player: unknown options {bad}; known: {sorted(known)}")
    for k, v in list(options.items()):
        default = getattr(SearchConfig, k)
        try:
            options[k] = type(default)(v) if not isinstance(default, bool) else _as_bool(v)
        except (TypeError, ValueError):
            raise ValueError(f"mcts player: option {k}={v!r} is not a {type(default).__name__}") from None
    config = SearchConfig(**options)
    budget = None
    if visits is not None or seconds is not None:
        budget = Budget(visits=None if visits is None else int(visits),
                        seconds=None if seconds is None else float(seconds))
    return MCTSPlayer(config, default_budget=budget)


def _as_bool(v):
    if isinstance(v, str):
        if v.lower() in ("1", "true", "yes", "on"):
            return True
        if v.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(v)
    return bool(v)
