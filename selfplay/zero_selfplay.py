"""AlphaGo Zero self-play: many games in one process, one network forward pass per step.

    python -m selfplay.zero_selfplay --checkpoint PATH --games N --out DIR [--parallel 32] ...

The loop
--------
``parallel_games`` games are in progress at once, each with its own ``engine.search.Search``
tree (kept from move to move: tree reuse). One step of the loop (``SearchRounds.run``)

1. asks every game's search for a leaf batch (up to ``leaf_batch`` leaves, spread over the
   tree by virtual loss) with each leaf's history stack, recorded as the descent plays the
   path, for all games in one jitted call (``engine.mcts.select_many``);
2. builds the input planes of all those leaves and runs ONE forward pass of the network over
   all of them (``BatchedNet``), so the network sees batches of about
   ``parallel_games * leaf_batch`` positions;
3. expands and backs up every tree with its rows of the answers, again in one call
   (``engine.mcts.backup_many``);
4. lets every game whose search has its visits choose and play its move, record the training
   sample and prepare the next search; a finished game goes to the writer thread and its slot
   starts the next game, until ``n_games`` have been started.

The writer thread writes the finished games in the order they finish (``SelfPlay._write``):
building the SGF and the arrays, compressing and the fsyncs cost about 5 ms a game, which the
loop would otherwise wait for (about 1.3 µs per evaluation with the playout cap, a tenth of
the loop's own work; docs/BENCHMARKS.md).
``SelfPlay.run`` returns, or raises, only once every finished game is on disk; a game's record
(``on_game``, the summary) exists once its files do.

Per move (AlphaGo Zero, with KataGo's playout cap as an option)
---------------------------------------------------------------
- Search size: ``visits`` new simulations; with playout-cap randomisation
  (``full_search_prob`` < 1) a move gets a full search with that probability and otherwise a
  cheap one of ``cheap_visits`` without root noise, played greedily and recorded with
  ``full_search`` False (its visit distribution is no policy target; its outcome still is).
- Root Dirichlet noise on full searches: Dir(alpha) over the legal root moves mixed in with
  weight ``dirichlet_epsilon`` (0.25). AlphaGo Zero used alpha = 0.03 on 19x19; the default
  here scales it to the number of points, alpha = 0.03 * 361 / N^2 (0.134 on 9x9), so the
  noise has the same total concentration on every board.
- Move choice: proportional to the visits (temperature 1) for the first
  ``temperature_moves`` moves of a game, then the most visited move; a pass that would hand
  the opponent a Tromp-Taylor win is replaced by the best searched move
  (``engine.search.no_losing_pass``: young networks otherwise pass as soon as every move looks
  lost, and end games long before the board is settled). The root search already leaves such
  a pass out (``Search.prepare(forbid_losing_pass=True)``), so it gets no visits and no policy
  mass: otherwise the always-legal pass collects the largest share of a near-uniform early
  search and the network learns to prefer it.
- Resignation: a side resigns when its root value and the value of its best move are both below
  ``resign_threshold`` (win probability). A share ``no_resign_share`` of the games never
  resigns: they record the first side that would have resigned, so the false-resignation rate
  (that side went on to win) can be measured (``summary['false_resign']``).
- Games end on two passes, resignation or ``max_moves``; unresigned games are scored by
  Tromp-Taylor with komi.

Output (the training-sample contract)
-------------------------------------
Per game ``<name>.sgf`` and ``<name>.npz`` in the output folder, both written atomically
(temporary name in the same folder, fsync, rename; the npz after the SGF, so a visible npz
means a complete game). The npz arrays: ``planes`` uint8[T, 17, N, N] (canonical orientation),
``policy`` float32[T, N*N+1] (root visit distribution), ``z`` float32[T] (outcome for the side to
move), ``to_move`` int8[T], ``full_search`` bool[T], ``ownership`` int8[N*N] (final
Tromp-Taylor owner, +1 black), ``size``, ``komi``, ``result``, ``resigned``,
``network_step``, ``would_resign`` (int8: colour that would have resigned in a no-resign
game, 0 when none or when resignation was allowed), ``resign_value`` float32[T] (the value the
resignation test reads at each recorded move: max(root value, best move's value), win
probability of the side to move) and ``resign_free`` (the game could not resign: a no-resign
game or resignation off), which ``resign_threshold_for`` calibrates the threshold from.

Determinism: game g draws its noise, temperature moves, resignation share and search seeds
from (seed, g) and the network's random symmetries come from one stream per lane, seeded by
``seed`` and the lane; each lane's loop order is fixed, so two runs with the same config,
network and number of lanes write the same games.

Lanes (``lanes`` > 1, the command's default on the CPU: one per core): the games are dealt to
that many copies of the loop, each in its own thread with ``parallel_games`` games at once and
its own forward passes on 1 torch thread (``SelfPlay.run``). One loop whose network uses every
core leaves all but one of them idle while it does its tree work; lanes overlap one lane's
tree work with another's forward pass, as the worker processes of ``selfplay.zero`` do, in
one process.
"""
import argparse
import contextlib
import copy
import json
import os
import queue
import sys
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from engine import atomic, mcts
from engine.board import BLACK, WHITE, M_TOMOVE, new_board
from engine.config import Config, check
from engine.game import GameState, result_string
from engine.mcts import T_FIRST
from engine.search import LeafBatch, Search, SearchConfig, no_losing_pass
from engine.sgf import game_to_sgf, write_sgf_atomic
from nets.evaluator import PRECISIONS, StackNet
from nets.features import HISTORY, PLANES, fill_planes_batch, history_stack


@dataclass(frozen=True)
class SelfPlayConfig(Config):
    """Settings of a self-play run (one process, many games)."""
    board_size: int = 9  # N
    komi: float = 7.5  # komi of every game (Tromp-Taylor area scoring)
    parallel_games: int = 32  # games in progress at once in each lane (batch ~ this * leaf_batch)
    visits: int = 200  # new simulations of a full search (AlphaGo Zero: 1600)
    full_search_prob: float = 1.0  # playout cap: chance of a full search per move; 1 = always
    cheap_visits: int = 32  # new simulations of a cheap search (playout cap)
    leaf_batch: int = 8  # leaves each game contributes per network call (virtual loss spreads them)
    c_puct: float = 2.5  # PUCT exploration weight
    fpu_reduction: float = 0.2  # an unvisited child is valued at the parent's Q minus this
    dirichlet_alpha: float = 0.0  # root noise concentration; 0 = 0.03 * 361 / N^2
    dirichlet_epsilon: float = 0.25  # weight of the noise in the root priors of full searches
    temperature_moves: int = 8  # moves played by visit share at temperature 1 (AlphaGo Zero 19x19: 30)
    resign_threshold: float = 0.05  # resign below this win probability (root and best move); 0 = never
    no_resign_share: float = 0.1  # share of games that never resign (false-resignation check)
    max_moves: int = 0  # a game stops after this many moves and is scored; 0 = 2 * N^2
    random_symmetry: bool = True  # each network evaluation under a random board symmetry
    seed: int = 0  # seed of everything random in the run
    name_prefix: str = "game"  # file names: <prefix>-s<seed>-<game index>
    precision: str = "fp32"  # forward pass: fp32, bf16, int8 (CPU), or auto (bf16 where native; nets.evaluator)

    def __post_init__(self):
        check(type(self).__name__, [
            (2 <= self.board_size <= 19, "board_size must be 2..19"),
            (self.parallel_games >= 1, "parallel_games must be at least 1"),
            (self.visits >= 1, "visits must be at least 1"),
            (0 < self.full_search_prob <= 1, "full_search_prob must be in (0, 1]"),
            (self.cheap_visits >= 1, "cheap_visits must be at least 1"),
            (1 <= self.leaf_batch <= 4096, "leaf_batch must be 1..4096"),
            (self.c_puct > 0, "c_puct must be positive"),
            (self.fpu_reduction >= 0, "fpu_reduction must not be negative"),
            (self.dirichlet_alpha >= 0, "dirichlet_alpha must not be negative (0 = scaled default)"),
            (0 <= self.dirichlet_epsilon <= 1, "dirichlet_epsilon must be in [0, 1]"),
            (self.temperature_moves >= 0, "temperature_moves must not be negative"),
            (0 <= self.resign_threshold < 1, "resign_threshold must be in [0, 1)"),
            (0 <= self.no_resign_share <= 1, "no_resign_share must be in [0, 1]"),
            (self.max_moves >= 0, "max_moves must not be negative (0 = 2 * N^2)"),
            (bool(self.name_prefix) and all(ch.isalnum() or ch in "-_" for ch in self.name_prefix),
             "name_prefix must be letters, digits, '-' or '_'"),
            (self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}"),
        ])

    @property
    def alpha(self):
        """Dirichlet alpha in use: the given one, or 0.03 * 361 / N^2."""
        return self.dirichlet_alpha or 0.03 * 361 / self.board_size ** 2

    @property
    def move_cap(self):
        """Moves after which a game is stopped and scored."""
        return self.max_moves or 2 * self.board_size ** 2

    def search_config(self, seed):
        """``SearchConfig`` of one game's tree (AlphaGo Zero: value net only, expand at once)."""
        n = self.board_size
        return SearchConfig(
            c_puct=self.c_puct, fpu_reduction=self.fpu_reduction, lam=0.0, expand_threshold=1,
            batch_size=self.leaf_batch, max_collisions=self.leaf_batch,
            dirichlet_alpha=self.alpha, dirichlet_epsilon=self.dirichlet_epsilon,
            temperature=0.0, resign_threshold=0.0, early_stop=False, threads=1, seed=seed,
            initial_tree_nodes=min(65_536, (self.visits + self.leaf_batch + 1) * (n * n + 1)))


# ---------------------------------------------------------------------------------------------
# One forward pass for the leaves of many trees

class SharedNetSlot:
    """The evaluator a game's ``Search`` holds when a batched loop (self-play, gating) answers
    its leaves through ``BatchedNet``: it only declares what the answers contain."""
    uses_value = True
    uses_rollout = False
    independent_samples = False

    def evaluate(self, batch):
        raise RuntimeError("this search is answered by a batched loop (BatchedNet), not by "
                           "Search.run")


class BatchedNet(StackNet):
    """Answers the leaf batches of many searches with one forward pass of ``model`` (a module
    mapping float32[B, 17, N, N] to (policy logits [B, N*N+1], value [B] in [-1, 1], ...)).
    Terminal leaves get no network row: the tree scores them exactly."""

    def __init__(self, model, board_size, device=None, random_symmetry=True, seed=0,
                 precision="fp32"):
        # its own stream, unlike NetEvaluator's: a seed keeps replaying the games it always did
        super().__init__(model, board_size, device, random_symmetry, [int(seed), 7], precision)

    def sibling(self, seed):
        """Another ``BatchedNet`` of the same network (model, graph, precision and device
        shared) with its own symmetry stream, seeded by ``seed``, and its own buffers and
        counters: one for each thread that runs forward passes at once (the buffers of one
        serve one caller at a time)."""
        twin = copy.copy(self)
        twin.rng = np.random.default_rng(seed)
        twin.calls, twin.evaluated, twin.forward_s = 0, 0, 0.0
        twin._cap = 0  # its buffers are allocated at its first call
        twin._scratch = new_board(self.n)
        return twin

    def _allocate(self, cap):
        super()._allocate(cap)
        n = self.n
        self._to_move = np.zeros(cap, dtype=np.int64)  # side to move of each leaf
        # answers of every leaf, in items order (terminal ones included, as 0 / 0.5)
        self._all_priors = np.zeros((cap, n * n + 1), dtype=np.float32)
        self._all_values = np.zeros(cap, dtype=np.float32)

    def evaluate(self, items):
        """Fill priors and values of every ``(search, batch, root_stack)`` in ``items``: the
        leaf batches from ``Search.begin_batch`` with the history stack of each search's root."""
        total = sum(bt.count for _, bt, _ in items)
        if total == 0:
            return
        self._buffers(total)
        stacks, to_move = self._stacks, self._to_move
        terminal = np.zeros(total, dtype=bool)
        off = 0
        for s, bt, root_stack in items:
            k = bt.count
            self._replay_leaves(s.tree, bt.leaf, k, s.root_board, root_stack, stacks[off:off + k])
            to_move[off:off + k] = bt.boards[8][:k, M_TOMOVE]
            terminal[off:off + k] = bt.terminal[:k] != 0
            off += k
        rows = np.flatnonzero(~terminal).astype(np.int64)  # terminal leaves are scored exactly
        priors, values = self._all_priors[:total], self._all_values[:total]
        priors[:] = 0.0
        values[:] = 0.5
        if len(rows):
            self._forward_rows(stacks, to_move, rows, priors, values)
        off = 0
        for _, bt, _ in items:
            k = bt.count
            bt.priors[:k] = priors[off:off + k]
            bt.value[:k] = values[off:off + k]
            off += k


def _selection_key(search):
    """The settings ``select_many`` takes once for a whole group of searches."""
    c = search.config
    return (c.c_puct, c.fpu_reduction, c.fpu_value, c.lam, c.virtual_loss, c.expand_threshold,
            bool(search.evaluator.independent_samples), c.max_collisions)


class SearchRounds:
    """The search step of a batched loop (self-play, gating): every game in progress selects a
    leaf batch, the network(s) answer all of them, every tree backs them up.

    One round over ``games`` (objects with ``search``, ``target``, ``sims``, ``root_stack``):

    1. each game's search picks at most ``leaf_batch`` leaves, and no more than the
       ``target - sims`` simulations it still wants (one while its root has no children), into
       its own rows of one shared ``LeafBatch``, each leaf with its history stack;
    2. ``net_of(g)`` says which ``BatchedNet`` answers game g (``net_of`` itself, when it is
       a network: one for all the games): each network answers the non-terminal rows of its
       games in one forward pass;
    3. each tree expands and backs up its rows, and ``g.sims`` grows by its leaves.

    Steps 1 and 3 are one jitted call per thread over a range of games
    (``engine.mcts.select_many`` / ``backup_many``), so the Python-to-Numba crossing is paid
    per round, not per game, and with ``threads`` > 1 the games are split between that many
    threads (the kernels release the GIL) while the network's own threads wait. What the
    games want of the round is read from their trees in one jitted call as well
    (``engine.mcts.round_wants``). The trees of the round's searches must share their
    selection settings (``_selection_key``). The results do not depend on ``threads``: each
    game's tree work is its own, and the symmetry draws happen in one thread in row order."""

    def __init__(self, board_size, leaf_batch, threads=1):
        self.n = int(board_size)
        self.kmax = int(leaf_batch)  # rows each game owns in the shared batch
        self.threads = max(1, int(threads))
        self._pool = ThreadPoolExecutor(self.threads - 1) if self.threads > 1 else None
        self._scratch = [new_board(self.n) for _ in range(self.threads)]  # one per thread
        # per thread: the colours along a descent (select_many)
        self._ring = [np.zeros((HISTORY, (self.n + 2) ** 2), dtype=np.int8)
                      for _ in range(self.threads)]
        self._cap = 0  # games the buffers hold
        self.sizes = []  # rows of each forward pass so far (the benchmark replays them)

    def close(self):
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _allocate(self, m, search):
        n, rows = self.n, m * self.kmax
        self._cap = m
        self.batch = LeafBatch(n, rows, search.batch.komi)  # rows g*kmax .. belong to game g
        self.row0 = np.arange(m, dtype=np.int64) * self.kmax  # first row of each game
        self.k = np.zeros(m, dtype=np.int64)  # leaves wanted from each game
        self.flags = np.zeros(m, dtype=np.int64)  # what each game needs first (round_wants)
        self.counts = np.zeros(m, dtype=np.int64)  # leaves each game picked
        self.group = np.zeros(m, dtype=np.int64)  # network of each game (index into the round's)
        self.rows = np.zeros(rows, dtype=np.int64)  # rows one network answers
        self.to_move = np.zeros(rows, dtype=np.int64)  # side to move of each row
        self.stacks = np.zeros((rows, HISTORY, (n + 2) ** 2), dtype=np.int8)  # history stacks
        self.root_stacks = np.zeros((m, HISTORY, (n + 2) ** 2), dtype=np.int8)
        # tables of the addresses of each game's tree and root board, which the kernels take;
        # a row is rewritten when a game's search gets a new tree (a new game, growth) or root
        # board, and _tree_of / _board_of keep what the rows point to alive
        self.trees = np.zeros((m, mcts.TREE_COLS), dtype=np.int64)
        self.root_boards = np.zeros((m, mcts.BOARD_COLS), dtype=np.int64)
        self.exact = np.zeros(rows)  # scores of terminal rows (backup_many)
        self._tree_of = [None] * m  # what each row holds, to notice replacements
        self._board_of = [None] * m
        self._stack_of = [None] * m
        self._search_of = [None] * m  # the search each slot's settings were checked for
        self._key = None  # ... against these settings (_selection_key)

    def _split(self, fn, m):
        """fn(lo, hi, j) over [0, m) in up to ``threads`` contiguous parts, j the part."""
        t = min(self.threads, m)
        bounds = [m * j // t for j in range(t + 1)]
        futures = [self._pool.submit(fn, bounds[j], bounds[j + 1], j) for j in range(1, t)]
        try:
            fn(bounds[0], bounds[1], 0)
        finally:
            for f in futures:
                f.result()

    def run(self, games, net_of):
        """One round (class docstring). Returns the positions in ``games`` of those whose
        search now has its simulations (``sims >= target``), in order. On any exception the
        leaves selected are released, so every tree stays usable."""
        m = len(games)
        if m == 0:
            return
        s0 = games[0].search
        key = _selection_key(s0)
        if m > self._cap:
            self._allocate(max(m, 2 * self._cap), s0)
        if key != self._key:  # other settings than the searches in the slots were checked for
            self._search_of = [None] * self._cap
            self._key = key
        counts, left = self.counts, []
        tree_of, board_of, stack_of, search_of = (self._tree_of, self._board_of, self._stack_of,
                                                  self._search_of)
        for i, g in enumerate(games):
            s = g.search
            if search_of[i] is not s:  # a search is checked once, when it enters a slot
                if _selection_key(s) != key:
                    raise ValueError("the searches of a round must share their selection "
                                     "settings")
                search_of[i] = s
            # the kernels' tables follow each game's tree, root board and root stack
            tree = s.tree
            if tree_of[i] is not tree:
                mcts.table_tree(self.trees, i, tree)
                tree_of[i] = tree
            board = s.root_board
            if board_of[i] is not board:
                mcts.table_board(self.root_boards, i, board)
                board_of[i] = board
            stack = g.root_stack
            if stack_of[i] is not stack:
                self.root_stacks[i] = stack_of[i] = stack
            left.append(g.target - g.sims)
        k, flags = self.k, self.flags
        k[:m] = left
        # leaves wanted: at most kmax and what each search still wants, the root alone first
        pending = []  # games whose root this round expands
        if mcts.round_wants(self.trees, k, m, self.kmax, self.n * self.n + 1, flags):
            for i in np.flatnonzero(flags[:m]).tolist():
                f = int(flags[i])
                if f & mcts.W_DONE:
                    raise ValueError("a game in the round wants no more simulations")
                if f & mcts.W_ROOT:
                    pending.append(i)
                if f & mcts.W_GROW:
                    s = games[i].search
                    s.ensure_room(int(k[i]))
                    mcts.table_tree(self.trees, i, s.tree)
                    tree_of[i] = s.tree
        counts[:m] = 0
        bt, trees = self.batch, self.trees
        c_puct, fpu_reduction, fpu_value, lam, vl_weight, threshold, dup, max_coll = key

        def select(lo, hi, j):
            mcts.select_many(trees, self.root_boards, self.root_stacks, self._scratch[j],
                             bt.boards, self.stacks, self._ring[j], bt.leaf, bt.expand,
                             bt.terminal, self.row0, k, counts, lo, hi, c_puct, fpu_reduction,
                             fpu_value, lam, vl_weight, threshold, dup, max_coll)

        try:
            self._split(select, m)
            if callable(net_of):
                nets, groups = [], []  # the round's networks, in order of first appearance
                for g in games:
                    net = net_of(g)
                    for j, other in enumerate(nets):
                        if other is net:
                            break
                    else:
                        j = len(nets)
                        nets.append(net)
                    groups.append(j)
                self.group[:m] = groups
            else:  # one network for every game
                nets = [net_of]
                self.group[:m] = 0
            used = m * self.kmax
            self.to_move[:used] = bt.boards[8][:used, M_TOMOVE]
            for j, net in enumerate(nets):
                r = mcts.batch_rows(self.row0[:m], counts[:m], bt.terminal, self.group[:m], j,
                                    self.rows)
                if r:
                    self.sizes.append(int(r))
                    net.answer_rows(self.stacks, self.to_move, self.rows[:r], bt.priors,
                                    bt.value)
        except BaseException:
            mcts.release_many(trees, bt.leaf, self.row0, counts, 0, m)
            raise

        def backup(lo, hi, j):
            mcts.backup_many(trees, bt.boards, bt.leaf, bt.expand, bt.terminal, self.row0,
                             counts, lo, hi, bt.priors, bt.value, bt.rollout, bt.score, True,
                             False, bt.komi, self.exact)

        self._split(backup, m)
        done = []
        for i, (g, c) in enumerate(zip(games, counts[:m].tolist())):
            g.sims += c
            if g.sims >= g.target:
                done.append(i)
        for i in pending:
            s = games[i].search
            if s.tree[T_FIRST][0] >= 0:
                s.setup_root()
        return done


# ---------------------------------------------------------------------------------------------
# Games

def outcome(state, resigned):
    """(winner, result text) of a finished game: the other colour wins when ``resigned`` is a
    colour (``"B+R"`` / ``"W+R"``), else the score decides (winner 0 and ``"0"`` for jigo)."""
    if resigned:
        winner = WHITE if resigned == BLACK else BLACK
        return winner, "BW"[winner - 1] + "+R"
    score = state.score()
    return (BLACK if score > 0 else WHITE if score < 0 else 0), result_string(score)


class _Game:
    """One game in progress: its state, tree and recorded positions."""

    def __init__(self, cfg, index):
        self.index = index  # game number in the run, from 0
        self.name = f"{cfg.name_prefix}-s{cfg.seed}-{index:06d}"
        self.rng = np.random.default_rng([cfg.seed, index, 1])  # per-move coin flips
        self.state = GameState(cfg.board_size, cfg.komi, move_limit=cfg.move_cap)
        self.search = Search(cfg.search_config(int(self.rng.integers(2 ** 31))), SharedNetSlot())
        self.no_resign = cfg.resign_threshold > 0 and self.rng.random() < cfg.no_resign_share
        self.resign_free = cfg.resign_threshold <= 0 or self.no_resign  # played out whatever happens
        self.would_resign = 0  # colour that would have resigned (no-resign games), 0 = none
        self.resigned = 0  # colour that resigned, 0 = none
        # per recorded move: the root's history stack (its planes are made when the game
        # is written), search policy, side to move and whether the search was a full one
        self.stacks, self.policy, self.to_move, self.full = [], [], [], []
        self.values = []  # per recorded move: max(root value, best move's value), mover's view
        self.target = 0  # simulations wanted in the current search
        self.sims = 0  # simulations done in the current search
        self.is_full = True  # current search is a full one
        self.root_stack = None  # history stack of the current root
        self.stack_moves = -1  # moves played before the current root


def _canonical_planes(stacks, to_move, n):
    """uint8[T, 17, N, N] input planes of the history stacks int8[T, 8, (N+2)^2], ``to_move[i]``
    to play in stack i."""
    t = len(stacks)
    out = np.zeros((t, PLANES, n, n), dtype=np.float32)
    if t:
        fill_planes_batch(stacks, to_move, np.zeros(t, dtype=np.int64), t, n, out)
    return out.astype(np.uint8)


def resign_threshold_for(games, false_rate=0.05):
    """The largest resignation threshold that would have resigned at most ``false_rate`` of
    ``games`` falsely, as AlphaGo Zero calibrates it.

    ``games``: (winner, to_move int8[T], resign_value float32[T]) of games played out without
    resigning (``resign_free``); winner 0 is jigo. A threshold t resigns a game falsely when the
    winner's lowest value is below t (for jigo: either side's, since resigning loses the draw).
    Returns None when ``games`` is empty."""
    lows = []
    for winner, to_move, values in games:
        values = np.asarray(values, dtype=np.float64)
        mine = values if winner == 0 else values[np.asarray(to_move) == winner]
        lows.append(float(mine.min()) if len(mine) else 1.0)
    if not lows:
        return None
    lows.sort()
    # strictly below lows[k] are at most k games, and k <= false_rate * len(lows)
    return lows[int(false_rate * len(lows))]


def write_npz_atomic(path, arrays):
    """``np.savez_compressed`` to ``path`` atomically (``engine.atomic``); on any failure the
    temporary file is removed and nothing appears under ``path``."""
    with atomic.atomic_file(path, "wb") as f:  # a file object: savez adds no ".npz"
        np.savez_compressed(f, **arrays)


class SelfPlay:
    """The batched self-play loop over ``n_games`` games (see the module docstring)."""

    def __init__(self, net, config, out_dir, n_games, network_step=0, on_game=None,
                 threads=1, lanes=1):
        self.net = net  # BatchedNet
        # threads of the tree work (SearchRounds); the games do not depend on it. One by
        # default: on the CPU, torch's threads spin for milliseconds after each forward pass,
        # through the whole tree phase, and a second tree thread measured no faster
        self.threads = int(threads)
        # independent loops, each in its own thread over its own share of the games (lane j
        # plays games j, j + lanes, ...) with its own forward passes (run)
        self.lanes = max(1, int(lanes))
        self.cfg = config
        self.out_dir = os.fspath(out_dir)
        self.n_games = int(n_games)
        self.network_step = int(network_step)
        self.on_game = on_game  # called with each finished game's record dict
        self.records = []  # one dict per finished game (name, result, moves, ...)
        self.moves = 0
        self._lock = threading.Lock()  # guards records, moves and on_game across lanes
        self._stop = threading.Event()  # set when a lane fails or on Ctrl-C: every lane stops
        self._to_write = None  # finished games for the writer thread (a queue, during run)
        self._write_error = None  # the first failed write's exception
        self._spare_trees = deque()  # trees of finished games, for the next ones (all lanes)

    def _new_game(self, index):
        g = _Game(self.cfg, index)
        try:
            # a finished game's tree, already grown to a search's size and paged in
            g.search.give_tree(self._spare_trees.pop())
        except IndexError:
            pass
        self._prepare(g)
        return g

    def _prepare(self, g):
        cfg = self.cfg
        g.is_full = cfg.full_search_prob >= 1 or g.rng.random() < cfg.full_search_prob
        g.target = cfg.visits if g.is_full else cfg.cheap_visits
        g.sims = 0
        s = g.search
        s.prepare(g.state, g.state.to_move, noise=g.is_full, forbid_losing_pass=True)
        moves = len(g.state.history)
        g.root_stack = history_stack(s.root_state, g.root_stack if g.stack_moves == moves - 1
                                     else None)
        g.stack_moves = moves

    def _move(self, g):
        """The search of g is complete: record, resign or play. True when the game is over."""
        cfg, n = self.cfg, self.cfg.board_size
        s, state = g.search, g.state
        s.end_search()
        color = state.to_move
        pi = np.empty(n * n + 1, dtype=np.float32)  # the visit policy, a training target
        ranked, v = s.results(pi)
        if cfg.resign_threshold > 0 and ranked:
            if v < cfg.resign_threshold:
                if not g.no_resign:
                    g.resigned = color
                    return True
                if not g.would_resign:
                    g.would_resign = color
        g.stacks.append(g.root_stack)  # the root is this position; a new array each search
        g.policy.append(pi)
        g.to_move.append(color)
        g.full.append(g.is_full)
        g.values.append(v)
        greedy = not g.is_full or len(state.history) >= cfg.temperature_moves
        move = no_losing_pass(s, state, color,
                              s.choose(temperature=0.0 if greedy else 1.0, ranked=ranked))
        state.play(color, move)
        with self._lock:
            self.moves += 1
        if state.is_over():
            return True
        self._prepare(g)
        return False

    def _finish(self, g):
        """g is over: to the writer thread (``_write_games``), its tree to the next game."""
        self._spare_trees.append(g.search.tree)
        g.search = None
        self._to_write.put(g)

    def _write_games(self, done):
        """The writer thread: ``_write`` each game put in the queue until None comes; sets
        ``done`` when it returns. A failed write stops the loop (``_stop``) and is raised by
        ``run`` once the lanes have returned; the games after it are still tried."""
        try:
            while True:
                g = self._to_write.get()
                if g is None:
                    return
                try:
                    self._write(g)
                except BaseException as e:
                    if self._write_error is None:
                        self._write_error = e
                    self._stop.set()
        finally:
            done.set()

    def _write(self, g):
        """Write the finished game g (SGF, then npz) and add its record."""
        cfg, state = self.cfg, g.state
        winner, result = outcome(state, g.resigned)
        to_move = np.array(g.to_move, dtype=np.int8)
        z = np.where(to_move == winner, 1.0, -1.0).astype(np.float32) if winner else \
            np.zeros(len(to_move), dtype=np.float32)
        n = cfg.board_size
        extra = {"GN": g.name, "GC": f"network_step={self.network_step} seed={cfg.seed} "
                 f"visits={cfg.visits} would_resign={'BW'[g.would_resign - 1] if g.would_resign else '-'}"}
        sgf = game_to_sgf(state, black_name=f"step-{self.network_step}",
                          white_name=f"step-{self.network_step}", result=result, extra=extra)
        base = os.path.join(self.out_dir, g.name)
        write_sgf_atomic(base + ".sgf", sgf)
        write_npz_atomic(base + ".npz", {
            "planes": _canonical_planes(np.array(g.stacks, dtype=np.int8).reshape(
                len(g.stacks), HISTORY, (n + 2) ** 2), to_move, n),
            "policy": np.array(g.policy, dtype=np.float32).reshape(-1, n * n + 1),
            "z": z,
            "to_move": to_move,
            "full_search": np.array(g.full, dtype=bool),
            "ownership": state.owner().astype(np.int8),
            "size": np.array(n),
            "komi": np.array(float(cfg.komi)),
            "result": np.array(result),
            "resigned": np.array(bool(g.resigned)),
            "network_step": np.array(self.network_step),
            "would_resign": np.array(g.would_resign, dtype=np.int8),
            "resign_value": np.array(g.values, dtype=np.float32),
            "resign_free": np.array(bool(g.resign_free)),
        })
        rec = {"name": g.name, "result": result, "winner": int(winner), "moves": len(state.history),
               "resigned": bool(g.resigned), "no_resign": bool(g.no_resign),
               "would_resign": int(g.would_resign),
               "false_resign": bool(g.would_resign and g.would_resign == winner)}
        with self._lock:
            self.records.append(rec)
            if self.on_game is not None:
                self.on_game(rec)

    def _lane(self, lane, lanes, net, sizes):
        """Play the games of ``lane`` of ``lanes`` (indices lane, lane + lanes, ...) with
        ``net``, ``parallel_games`` of them in progress at once; the rows of its forward
        passes go into ``sizes``."""
        cfg = self.cfg
        rounds = SearchRounds(cfg.board_size, cfg.leaf_batch, self.threads)
        try:
            play_lane(rounds, range(lane, self.n_games, lanes), cfg.parallel_games,
                      self._new_game, self._move, self._finish, net, self._stop)
        finally:
            sizes.extend(rounds.sizes)
            rounds.close()

    def run(self):
        """Play all games; returns the summary dict (see ``run_selfplay``).

        With ``lanes`` > 1 the games are dealt to that many loops (``run_lanes``), each in its
        own thread with ``parallel_games`` games at once and its own ``BatchedNet.sibling``
        (lane j's symmetry stream is seeded by (seed, 7, j)), and on the CPU torch runs 1
        thread per lane for the call: lanes that each alternate their own tree work and
        forward passes keep every core busy, where one loop with a multi-threaded network
        leaves all but one idle during its tree work. The games of a run depend on the number
        of lanes, not on the order the lanes' threads run in."""
        os.makedirs(self.out_dir, exist_ok=True)
        cfg = self.cfg
        t0 = time.perf_counter()
        lanes = max(1, min(self.lanes, self.n_games))
        self._stop.clear()
        nets = [self.net] + [self.net.sibling([cfg.seed, 7, j]) for j in range(1, lanes)]
        ev0, calls0, fw0 = self.net.evaluated, self.net.calls, self.net.forward_s
        sizes = [[] for _ in range(lanes)]
        self._to_write, self._write_error = queue.Queue(), None
        written = threading.Event()  # set when the writer thread returns
        threading.Thread(target=self._write_games, args=(written,), name="game-writer",
                         daemon=True).start()
        try:
            run_lanes(lanes, lambda j: self._lane(j, lanes, nets[j], sizes[j]), self._stop,
                      cpu=self.net.device.type == "cpu")
        finally:
            self._to_write.put(None)
            while not written.wait(0.5):  # timed: Ctrl-C gets through (see run_lanes)
                pass
        if self._write_error is not None:
            raise self._write_error
        seconds = time.perf_counter() - t0
        evaluated = sum(n.evaluated for n in nets) - ev0  # the siblings start from 0
        calls = sum(n.calls for n in nets) - calls0
        fw = sum(n.forward_s for n in nets) - fw0
        self.records.sort(key=lambda r: r["name"])
        played_out = [r for r in self.records if r["no_resign"]]
        would = [r for r in played_out if r["would_resign"]]
        return {
            "games": len(self.records), "moves": self.moves, "seconds": seconds,
            "lanes": lanes, "evaluations": evaluated, "forward_calls": calls,
            "mean_batch": evaluated / calls if calls else 0.0,
            "batch_sizes": [b for lane in sizes for b in lane],
            "evals_per_s": evaluated / seconds if seconds > 0 else 0.0,
            "forward_s": fw, "forward_evals_per_s": evaluated / fw if fw > 0 else 0.0,
            "black_wins": sum(r["winner"] == BLACK for r in self.records),
            "white_wins": sum(r["winner"] == WHITE for r in self.records),
            "jigo": sum(r["winner"] == 0 for r in self.records),
            "resigned": sum(r["resigned"] for r in self.records),
            "no_resign_games": len(played_out), "would_resign": len(would),
            "false_resign": sum(r["false_resign"] for r in would),
            "false_resign_rate": (sum(r["false_resign"] for r in would) / len(would)) if would else None,
            "records": self.records,
        }


def play_lane(rounds, indices, at_once, new_game, move, finish, net_of, stop):
    """The loop of one lane of a batched loop (self-play, gating): games ``new_game(i)`` for i
    in ``indices``, ``at_once`` of them in progress, one ``rounds.run(active, net_of)`` per
    step. A game whose search is done (``SearchRounds.run`` lists them) is handed to
    ``move(g)`` (True: the game is over), a finished one to ``finish(g)`` and its slot to the
    next index. Ends when every game is done
    or ``stop`` is set (between rounds; no new game starts once it is)."""
    todo = iter(indices)
    active = [new_game(i) for _, i in zip(range(at_once), todo)]
    while active and not stop.is_set():
        gone = False  # a finished game left no successor: its slot goes
        for i in rounds.run(active, net_of):  # only the games whose search is done
            g = active[i]
            if not move(g):
                continue
            finish(g)
            index = next(todo, None)
            if index is not None and not stop.is_set():
                active[i] = new_game(index)  # the next game takes the slot
            else:
                active[i] = None
                gone = True
        if gone:
            active = [g for g in active if g is not None]


def run_lanes(lanes, play, stop, cpu=True):
    """``play(j)`` for j in range(lanes), each in a thread of its own (in the calling thread
    when ``lanes`` is 1), on 1 torch thread each when ``cpu``. ``stop`` (a threading.Event the
    lanes check between rounds) is set when a lane fails or the waiting thread is interrupted;
    the first error is raised here once every lane has returned."""
    if lanes == 1:
        play(0)
        return
    errors = []
    done = [threading.Event() for _ in range(lanes)]  # set as each lane returns

    def lane(j):
        try:
            play(j)
        except BaseException as e:
            errors.append(e)
            stop.set()
        finally:
            done[j].set()

    def wait_all():
        for d in done:
            # timed waits let Ctrl-C through; an Event, unlike Thread.join, is still right
            # after an interrupted wait (an interrupted join can report a running thread gone,
            # and a process that exits under a lane inside torch aborts)
            while not d.wait(0.5):
                pass

    with torch_threads(1 if cpu else None):
        for j in range(lanes):
            threading.Thread(target=lane, args=(j,), name=f"lane-{j}", daemon=True).start()
        try:
            wait_all()
        except BaseException:
            stop.set()  # each lane ends its round, then returns
            wait_all()
            raise
    if errors:
        raise errors[0]


def default_lanes(lanes, device=None):
    """``lanes``, or for 0 the default of the commands: one lane per CPU core when the network
    runs on the CPU (``device`` None: CUDA when available), 1 on a GPU."""
    if lanes > 0:
        return int(lanes)
    gpu = torch.device(device).type != "cpu" if device else torch.cuda.is_available()
    return 1 if gpu else os.cpu_count() or 1


@contextlib.contextmanager
def torch_threads(n):
    """Torch's intra-op threads set to ``n`` for the block (None: left alone), then back."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _load_model(model_or_checkpoint, board_size):
    """(model, network step) from a torch module or a checkpoint path."""
    if isinstance(model_or_checkpoint, torch.nn.Module):
        return model_or_checkpoint, 0
    from nets.checkpoint import load_checkpoint
    model, _, step, _ = load_checkpoint(model_or_checkpoint, board_size=board_size)
    return model, step


def run_selfplay(model_or_checkpoint, config, out_dir, n_games, device=None, network_step=None,
                 progress=False, tree_threads=1, lanes=1):
    """Play ``n_games`` self-play games with a network (a module, or a checkpoint path whose
    step becomes ``network_step``), writing ``<name>.sgf`` / ``<name>.npz`` into ``out_dir``,
    in ``lanes`` threads (``SelfPlay.run``).

    Returns a summary dict: games, moves, seconds, lanes, evaluations (positions through the
    network), forward_calls, mean_batch, batch_sizes (rows of each forward pass, lane after
    lane), evals_per_s (during self-play), forward_s (seconds inside the forward passes,
    summed over the lanes) / forward_evals_per_s, black_wins / white_wins / jigo, resigned,
    no_resign_games, would_resign, false_resign, false_resign_rate, records (one per game)."""
    if n_games < 0:
        raise ValueError("n_games must not be negative")
    model, step = _load_model(model_or_checkpoint, config.board_size)
    mc = getattr(model, "config", None)
    if mc is not None and getattr(mc, "board_size", config.board_size) != config.board_size:
        raise ValueError(f"network is for {mc.board_size}x{mc.board_size} boards, self-play "
                         f"is on {config.board_size}x{config.board_size}")
    net = BatchedNet(model, config.board_size, device, config.random_symmetry, config.seed,
                     config.precision)
    bar = None
    on_game = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=n_games, unit="game", dynamic_ncols=True)

        def show(rec):
            bar.update(1)
            bar.set_postfix_str(f"{rec['result']} {rec['moves']} moves")
        on_game = show
    try:
        sp = SelfPlay(net, config, out_dir, n_games,
                      network_step=step if network_step is None else network_step, on_game=on_game,
                      threads=tree_threads, lanes=lanes)
        return sp.run()
    finally:
        if bar is not None:
            bar.close()


def forward_throughput(model, board_size, batch, seconds=3.0, device=None, precision="fp32",
                       sizes=None, lanes=1):
    """Positions per second of bare forward passes of ``model`` at batch size ``batch``
    (softmax and copies back included, as in self-play): the yardstick of self-play speed.
    With ``sizes`` (a sequence of batch sizes, e.g. self-play's ``batch_sizes``) the passes
    replay that sequence, once, instead: the same network work self-play did, without the
    search around it. With ``lanes`` > 1 (``sizes`` only) the sequence is also replayed by
    that many threads at once, every lanes-th size each, on 1 torch thread each on the CPU, as
    self-play's lanes run them, and the faster of the two replays counts."""
    net = BatchedNet(model, board_size, device, random_symmetry=False, precision=precision)
    rng = np.random.default_rng(0)
    top = max(sizes) if sizes else batch
    planes = (rng.random((top, PLANES, board_size, board_size)) < 0.3).astype(np.float32)
    net.forward(planes[:batch if not sizes else sizes[0]])  # warm-up
    net.forward_s, net.evaluated = 0.0, 0
    if not sizes:
        while net.forward_s < seconds:
            net.forward(planes)
        return net.evaluated / net.forward_s
    for b in sizes:
        net.forward(planes[:b])
    best = net.evaluated / net.forward_s
    if lanes > 1:
        nets = [net.sibling(j) for j in range(lanes)]
        start = threading.Barrier(lanes)

        def replay(j):
            try:
                nets[j].forward(planes[:sizes[0]])  # warm-up, in the thread that replays
            except BaseException:
                start.abort()  # the other lanes stop waiting for this one
                raise
            try:
                start.wait()  # every lane warm before any is timed
            except threading.BrokenBarrierError:
                return None  # another lane failed: pool.map raises its error
            t = time.perf_counter()
            for b in sizes[j::lanes]:
                nets[j].forward(planes[:b])
            return t, time.perf_counter()

        with torch_threads(1 if net.device.type == "cpu" else None), \
                ThreadPoolExecutor(lanes) as pool:  # one thread per lane: they all meet at start
            spans = list(pool.map(replay, range(lanes)))
        wall = max(t1 for _, t1 in spans) - min(t0 for t0, _ in spans)
        best = max(best, sum(sizes) / wall)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m selfplay.zero_selfplay",
                                 description="AlphaGo Zero self-play, many games in one process.")
    ap.add_argument("--checkpoint", required=True, help="network checkpoint (nets.checkpoint)")
    ap.add_argument("--games", type=int, required=True, help="games to play")
    ap.add_argument("--out", required=True, help="folder for <name>.sgf / <name>.npz")
    d = SelfPlayConfig()
    ap.add_argument("--size", type=int, default=d.board_size)
    ap.add_argument("--komi", type=float, default=d.komi)
    ap.add_argument("--parallel", type=int, default=d.parallel_games,
                    help="games at once in each lane")
    ap.add_argument("--visits", type=int, default=d.visits, help="simulations per full search")
    ap.add_argument("--full-search-prob", type=float, default=d.full_search_prob)
    ap.add_argument("--cheap-visits", type=int, default=d.cheap_visits)
    ap.add_argument("--leaf-batch", type=int, default=d.leaf_batch)
    ap.add_argument("--c-puct", type=float, default=d.c_puct)
    ap.add_argument("--dirichlet-alpha", type=float, default=d.dirichlet_alpha,
                    help="0 = 0.03 * 361 / N^2")
    ap.add_argument("--dirichlet-epsilon", type=float, default=d.dirichlet_epsilon)
    ap.add_argument("--temperature-moves", type=int, default=d.temperature_moves)
    ap.add_argument("--resign-threshold", type=float, default=d.resign_threshold)
    ap.add_argument("--no-resign-share", type=float, default=d.no_resign_share)
    ap.add_argument("--max-moves", type=int, default=d.max_moves)
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--name-prefix", default=d.name_prefix)
    ap.add_argument("--precision", choices=PRECISIONS, default=d.precision,
                    help="forward-pass arithmetic; bf16 is 2.5-3x faster where native (auto)")
    ap.add_argument("--device", default=None, help="torch device (default: cuda if available)")
    ap.add_argument("--lanes", type=int, default=0,
                    help="self-play loops in threads of their own, each with its share of the "
                         "games and 1 torch thread on the CPU; 0 = one per CPU core on the CPU, "
                         "1 with a GPU (the games depend on this number)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads of a single lane (more lanes run 1 each)")
    ap.add_argument("--tree-threads", type=int, default=1,
                    help="threads for the tree work of each lane (the games stay the same); "
                         "meant for a network on a GPU (not measured): on the CPU use lanes")
    ap.add_argument("--compare-forward", action="store_true",
                    help="also time bare forward passes (the same batch sizes again, and the "
                         "mean batch size) and print self-play's ratio to them")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        cfg = SelfPlayConfig(
            board_size=args.size, komi=args.komi, parallel_games=args.parallel, visits=args.visits,
            full_search_prob=args.full_search_prob, cheap_visits=args.cheap_visits,
            leaf_batch=args.leaf_batch, c_puct=args.c_puct, dirichlet_alpha=args.dirichlet_alpha,
            dirichlet_epsilon=args.dirichlet_epsilon, temperature_moves=args.temperature_moves,
            resign_threshold=args.resign_threshold, no_resign_share=args.no_resign_share,
            max_moves=args.max_moves, seed=args.seed, name_prefix=args.name_prefix,
            precision=args.precision)
        summary = run_selfplay(args.checkpoint, cfg, args.out, args.games, device=args.device,
                               progress=not args.no_progress, tree_threads=args.tree_threads,
                               lanes=default_lanes(args.lanes, args.device))
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # finished games are on disk; a game cut off leaves no file
        print(f"interrupted: the finished games are in {args.out}", file=sys.stderr)
        return 130
    summary.pop("records")
    sizes = summary.pop("batch_sizes")
    if args.compare_forward and summary["forward_calls"]:
        model, _ = _load_model(args.checkpoint, cfg.board_size)
        kw = dict(device=args.device, precision=cfg.precision)
        replay = forward_throughput(model, cfg.board_size, 0, sizes=sizes,
                                    lanes=summary["lanes"], **kw)
        mean = forward_throughput(model, cfg.board_size, max(1, round(summary["mean_batch"])),
                                  **kw)
        summary["forward_share"] = summary["forward_s"] / (summary["seconds"] * summary["lanes"])
        summary["raw_forward_evals_per_s"] = replay
        summary["selfplay_over_raw"] = summary["evals_per_s"] / replay
        summary["raw_forward_mean_batch_evals_per_s"] = mean
        summary["selfplay_over_raw_mean_batch"] = summary["evals_per_s"] / mean
    print(json.dumps({"config": cfg.to_dict(), **summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
