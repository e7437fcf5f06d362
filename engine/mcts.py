"""PUCT Monte-Carlo tree search in Numba: the tree, batched leaf selection, expansion and backup.

The Python driver (``engine.search``) runs one loop per batch of leaves::

    count, collisions = select_leaves(tree, root_board, scratch, boards, leaf, expand, terminal, ...)
    evaluator fills priors / values / rollout results for the ``count`` leaves
    expand_and_backup(tree, boards, leaf, expand, terminal, count, priors, value, rollout, score, ...)

so the Numba/Python boundary is crossed a fixed number of times per batch, never per node.
Batched loops that run many searches at once (self-play, gating) cross it once per round for
all of them: ``select_many`` / ``backup_many`` take tables of the addresses of the searches'
trees and root boards (``table_tree``, ``table_board``) and give each search its own rows of
one shared batch (``batch_rows`` lists the rows a network answers), and disjoint ranges of
searches may run in parallel threads.

The kernels take the arrays out of the tree and board tuples once per call and run their
per-leaf loops in cores compiled without the runtime's reference counting (``_select_core``,
``_backup_core``: ``_nrt=False``): in a function with it, each tuple or array handed to a
helper, even an inlined one, and each row view costs an atomic increment and decrement, which
took 40% of the selection and a third of the backup, and on a batch shared by two threads
serialised them.

The batched kernels take many searches at once. A typed list of trees handed out each tree
with one such count per array, 23 per search for its tree and root board, which came to 40 µs
of a round's selection and 25 µs of its backup with 32 searches. They rebuild each search's
arrays from the addresses in tables instead (``_tree_at``, ``_board_at``): views that own
nothing, so there is nothing to count. The caller keeps the arrays alive and rewrites a row
whenever a search's tree or root board is replaced.

In a batched loop the forward pass between selection and backup pushes the trees out of L2,
and 32 trees do not fit in it anyway, so the kernels ask for their next cache lines before
they need them (``_prefetch``, LLVM's prefetch hint, which changes no result): selection the
children of the node it is about to descend into, while it plays the move, and the next
search's root board, history and root children; backup the next row's leaf, position and
priors, and where its new children will go. That took about a third off both in the loop.

Tree
----
A tree is a tuple of preallocated parallel arrays indexed by node id (``new_tree``). Node 0 is
always the root. -1 means "none". The children of a node are contiguous:
``first[i] .. first[i] + nchild[i] - 1``, and every node's id is larger than its parent's.

Moving the root to a node one or more moves down (tree reuse between searches) is
``promote_root``: the node's own record moves to id 0, and the nodes that are no longer under
the root are cut off where they hang from the old path, their parent set to ``DEAD``; the
kept subtree stays where it is. A move costs a few hundred writes that way, where moving the
kept subtree to the front (``reroot_in_place``) read the whole tree and copied a few thousand
nodes, 50-130 µs a move in self-play. The cut-off nodes keep their ids until the tree runs
out of room; then ``reroot_in_place(tree, 0)`` compacts it, moving the root's subtree to the
front (``tmeta[T_STALE]`` says whether there is anything to drop). ``reroot`` does the same
onto a copy.

    move    int16[cap]    move from the parent to this node: padded point or PASS
    parent  int32[cap]    parent id, -1 at the root, DEAD at the top of a cut-off subtree
    first   int32[cap]    first child id, -1 while the node is a leaf
    nchild  int16[cap]    number of children
    prior   float32[cap]  policy prior P of this node's move at the parent
    flags   uint8[cap]    F_TERMINAL (two passes in a row: scored exactly), F_DISABLED (a root
                          child the game's superko rule forbids; never selected), F_NET_PRIOR,
                          F_VALUE_ASKED (asynchronous network answers, below)
    n       int32[cap]    visits: finished simulations through this node
    nv      int32[cap]    value-net samples backed up through this node
    wv      float64[cap]  sum of those value-net samples
    nr      int32[cap]    rollout samples backed up through this node
    wr      float64[cap]  sum of those rollout results
    ws      float64[cap]  sum of rollout final scores, black minus white minus komi (black's view)
    vl      int16[cap]    simulations in flight through this node (virtual losses)
    tmeta   int64[8]      tree scalars, indexed by the T_* constants

That is 55 bytes per node (``bytes_per_node``). Nodes never hold positions: a simulation
copies the root board and replays the moves down the tree.

When the tree is full, expansions are refused (counted in ``tmeta[T_REFUSED]``) and the search
goes on evaluating leaves without growing; the driver may instead ``grow_tree`` between batches.

Value perspective
-----------------
Values are win probabilities in [0, 1]. The statistics of a node (Wv/Nv, Wr/Nr, hence Q) are
from the view of the player who played the node's move, i.e. the player to move at its parent,
so a parent simply picks the child with the highest Q + U. Evaluators report values for the
side to move at the leaf. ``flip`` is the only function that turns a value into the other
side's view; backup alternates it up the path. The root's own statistics are thus from the
view of the root player's opponent: the root value for the player to move is ``flip(Q(root))``.
Scores (``ws``) are always black minus white, whoever is to move.

Q mixes the two kinds of evaluation: Q = (1 - lam) * Wv/Nv + lam * Wr/Nr, using the available
one alone when the other has no samples (lam = 1: pure rollouts; lam = 0: AlphaGo Zero).

Selection (PUCT)
----------------
    score(child) = Q + c_puct * P * sqrt(N_parent) / (1 + N_child)

N_parent counts the parent's finished and in-flight simulations (for an expansion threshold of 1
it is one more than the sum of the children's visits). A child without visits takes the
first-play-urgency value: the parent's Q for the player choosing minus ``fpu_reduction``, or the
fixed ``fpu_value`` when that is >= 0. Each in-flight simulation through a child counts as
``vl_weight`` extra visits that all lost, which spreads a batch over different leaves.

Expansion: a leaf gets its children (all legal points under simple ko, plus pass) on the visit
that brings its visit count to ``expand_threshold`` (1: at the first visit, as in AlphaGo Zero;
40: AlphaGo Lee). The root always expands at its first visit.

Evaluation kernels
------------------
``rollout_batch`` is the rollout evaluator's kernel: priors from ``leaf_priors`` for the leaves
to expand and one ``engine.playout.run_playout`` per leaf, for a range of batch rows so that
threads can share a batch (it releases the GIL). ``uniform_priors`` is the prior of the test
evaluator.

Asynchronous network answers (AlphaGo Lee's APV-MCTS)
------------------------------------------------------
A search may back up its rollouts at once and let network answers arrive later, as the paper's
search does: ``ask_values`` picks the leaves of a batch whose position has not yet been sent to
the value network (marking them ``F_VALUE_ASKED``); when a value arrives, ``backup_values`` adds
one value sample to the leaf and each ancestor (Nv, Wv only: visits were counted by the
rollout). A node expanded with cheap priors gets the policy network's when they arrive
(``set_child_priors``, which marks it ``F_NET_PRIOR``). Both change statistics and priors only,
never the tree's shape or in-flight marks, so they may run between any two kernel calls.
"""
import math

import numpy as np
from llvmlite import ir
from numba import carray, literal_unroll, njit
from numba.core import cgutils, types
from numba.extending import intrinsic

from engine.board import (BLACK, PASS, M_KO, M_KO_COLOR, M_N, M_NEMPTY, M_PASSES, M_TOMOVE,
                          M_W, _chains_allow, _copy_arrays, _pass, _play, _u, area_owner,
                          area_score, copy_into, is_legal, play)
from engine.playout import heuristic_priors, run_playout

# tuple slots of a tree
T_MOVE = 0
T_PARENT = 1
T_FIRST = 2
T_NCHILD = 3
T_PRIOR = 4
T_FLAGS = 5
T_N = 6
T_NV = 7
T_WV = 8
T_NR = 9
T_WR = 10
T_WS = 11
T_VL = 12
T_META = 13

# tmeta slots
T_COUNT = 0  # nodes in use (ids 0 .. count-1)
T_REFUSED = 1  # expansions refused because the tree was full
T_COLLISIONS = 2  # leaves given up by select_leaves because they were already in flight
T_STALE = 3  # 1 when nodes outside the root's subtree may be in use (promote_root)

DEAD = -2  # parent of a node cut off from the tree by promote_root (its subtree goes with it)

# flag bits
F_TERMINAL = 1  # the position after this move ends the game (two passes in a row)
F_DISABLED = 2  # root child forbidden by the game's superko rule
F_NET_PRIOR = 4  # the children's priors came from the policy network (asynchronous search)
F_VALUE_ASKED = 8  # the node's position was sent to the value network (asynchronous search)

_PER_NODE_DTYPES = (np.int16, np.int32, np.int32, np.int16, np.float32, np.uint8, np.int32,
                    np.int32, np.float64, np.int32, np.float64, np.float64, np.int16)


def _prefetch_intrinsic(write):
    """An intrinsic ``f(arr, i)`` that hints the CPU to bring the cache line of arr[i] in
    (``llvm.prefetch``: for reading, or with ``write`` for writing; keep in all levels). It
    loads nothing, cannot fault and changes no result; the search kernels use it to start
    the cache misses of what they read next while they still compute."""

    @intrinsic
    def prefetch(typingctx, arr, i):
        if not isinstance(arr, types.Array) or not isinstance(i, types.Integer):
            return None

        def codegen(context, builder, sig, args):
            aryty = sig.args[0]
            ary = context.make_array(aryty)(context, builder, args[0])
            ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]])
            i8p = builder.bitcast(ptr, ir.IntType(8).as_pointer())
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [i8p.type, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
            builder.call(fn, [i8p, ir.Constant(i32, int(write)), ir.Constant(i32, 3),
                              ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return types.void(arr, i), codegen

    return prefetch


_prefetch = _prefetch_intrinsic(False)
_prefetch_w = _prefetch_intrinsic(True)


@njit(cache=True, inline="always")
def _prefetch_range(a, lo, hi, write=False):
    """``_prefetch`` (``_prefetch_w`` when ``write``) every cache line of a[lo:hi], a 1-D
    array; ``write`` is a constant at every call, so the test folds away."""
    if hi > lo:
        step = max(1, 64 // a.itemsize)
        for q in range(lo, hi, step):
            if write:
                _prefetch_w(a, q)
            else:
                _prefetch(a, q)
        if write:
            _prefetch_w(a, hi - 1)
        else:
            _prefetch(a, hi - 1)


@njit(cache=True, inline="always")
def _prefetch_children(move, first, nchild, prior, n, nv, wv, vl, lo, hi):
    """``_prefetch`` what selection reads of the children lo .. hi-1 of a node."""
    for a in literal_unroll((n, prior, vl, nv, wv, first, nchild, move)):
        _prefetch_range(a, lo, hi)


def bytes_per_node():
    """Memory per tree node, all parallel arrays together."""
    return sum(np.dtype(d).itemsize for d in _PER_NODE_DTYPES)


@njit(cache=True)
def new_tree(cap):
    """Empty tree for up to ``cap`` nodes holding one unexpanded root (node 0)."""
    move = np.empty(cap, dtype=np.int16)
    parent = np.empty(cap, dtype=np.int32)
    first = np.empty(cap, dtype=np.int32)
    nchild = np.empty(cap, dtype=np.int16)
    prior = np.empty(cap, dtype=np.float32)
    flags = np.empty(cap, dtype=np.uint8)
    n = np.empty(cap, dtype=np.int32)
    nv = np.empty(cap, dtype=np.int32)
    wv = np.empty(cap, dtype=np.float64)
    nr = np.empty(cap, dtype=np.int32)
    wr = np.empty(cap, dtype=np.float64)
    ws = np.empty(cap, dtype=np.float64)
    vl = np.empty(cap, dtype=np.int16)
    tmeta = np.zeros(8, dtype=np.int64)
    tree = (move, parent, first, nchild, prior, flags, n, nv, wv, nr, wr, ws, vl, tmeta)
    _init_node(tree, 0, -1, PASS, 1.0)
    tmeta[T_COUNT] = 1
    return tree


@njit(cache=True)
def clear_tree(tree):
    """Empty ``tree`` in place, keeping its arrays: one unexpanded root, as from ``new_tree``."""
    tmeta = tree[T_META]
    for i in range(tmeta.shape[0]):
        tmeta[i] = 0
    _init_node(tree, 0, -1, PASS, 1.0)
    tmeta[T_COUNT] = 1


@njit(cache=True, inline="always")
def _init_node(tree, i, par, mv, pr):
    tree[T_MOVE][i] = mv
    tree[T_PARENT][i] = par
    tree[T_FIRST][i] = -1
    tree[T_NCHILD][i] = 0
    tree[T_PRIOR][i] = pr
    tree[T_FLAGS][i] = 0
    tree[T_N][i] = 0
    tree[T_NV][i] = 0
    tree[T_WV][i] = 0.0
    tree[T_NR][i] = 0
    tree[T_WR][i] = 0.0
    tree[T_WS][i] = 0.0
    tree[T_VL][i] = 0


@njit(cache=True)
def grow_tree(tree, cap):
    """Copy of ``tree`` with room for ``cap`` nodes (ids unchanged)."""
    out = new_tree(cap)
    used = tree[T_META][T_COUNT]
    # ids are kept, so every array's first ``used`` entries copy over as they are
    out[T_MOVE][:used] = tree[T_MOVE][:used]
    out[T_PARENT][:used] = tree[T_PARENT][:used]
    out[T_FIRST][:used] = tree[T_FIRST][:used]
    out[T_NCHILD][:used] = tree[T_NCHILD][:used]
    out[T_PRIOR][:used] = tree[T_PRIOR][:used]
    out[T_FLAGS][:used] = tree[T_FLAGS][:used]
    out[T_N][:used] = tree[T_N][:used]
    out[T_NV][:used] = tree[T_NV][:used]
    out[T_WV][:used] = tree[T_WV][:used]
    out[T_NR][:used] = tree[T_NR][:used]
    out[T_WR][:used] = tree[T_WR][:used]
    out[T_WS][:used] = tree[T_WS][:used]
    out[T_VL][:used] = tree[T_VL][:used]
    out[T_META][:] = tree[T_META]
    return out


@njit(cache=True)
def reroot(tree, node):
    """New tree of the same capacity holding the subtree of ``node``, which becomes root 0
    (``reroot_in_place`` on a copy)."""
    out = grow_tree(tree, tree[T_MOVE].shape[0])
    reroot_in_place(out, node)
    return out


@njit(cache=True)
def reroot_in_place(tree, node):
    """Make the subtree of ``node`` the whole of ``tree``, with ``node`` as root 0. Its nodes
    move to the front in id order; visit counts and statistics are kept, everything outside
    the subtree is dropped (with ``node`` 0: what ``promote_root`` cut off, a compaction).
    Two passes read the tree front to back, since a node's descendants all have larger ids
    than it. The first numbers the subtree's nodes; the second moves each one down to its
    number, which never passes a node not yet read. Children stay contiguous and in their
    order."""
    move, parent, first, nchild, prior, flags, n, nv, wv, nr, wr, ws, vl, tmeta = tree
    used = tmeta[T_COUNT]
    new_id = np.empty(used - node, dtype=np.int32)  # new id of node + i; -1 outside the subtree
    _reroot_core(move, parent, first, nchild, prior, flags, n, nv, wv, nr, wr, ws, vl, tmeta,
                 node, new_id)


@njit(cache=True)
def promote_root(tree, node):
    """Make ``node`` the root, in place, without moving its subtree (module docstring, Tree):
    its record moves to id 0 and its children hang from 0; every other child of each node on
    the path from the old root down to it is cut off (parent ``DEAD``), and so are the path's
    nodes themselves (no children left). The search counters of ``tmeta`` start again at 0."""
    move, parent, first, nchild, prior, flags, n, nv, wv, nr, wr, ws, vl, tmeta = tree
    if node == 0:
        return
    x = node
    while x != 0:
        a = parent[x]
        f = first[a]
        for j in range(f, f + nchild[a]):
            if j != x:
                parent[j] = DEAD
        if x != node:  # a node of the path: nothing of it stays
            parent[x] = DEAD
            first[x] = -1
            nchild[x] = 0
        x = a
    move[0] = move[node]
    parent[0] = -1
    first[0] = first[node]
    nchild[0] = nchild[node]
    prior[0] = prior[node]
    flags[0] = flags[node] & ~np.uint8(F_TERMINAL)  # the search goes on from a root
    n[0] = n[node]
    nv[0] = nv[node]
    wv[0] = wv[node]
    nr[0] = nr[node]
    wr[0] = wr[node]
    ws[0] = ws[node]
    vl[0] = vl[node]
    f = first[0]
    for j in range(f, f + nchild[0]):
        parent[j] = 0
    parent[node] = DEAD
    first[node] = -1
    nchild[node] = 0
    count = tmeta[T_COUNT]
    for i in range(tmeta.shape[0]):
        tmeta[i] = 0
    tmeta[T_COUNT] = count
    tmeta[T_STALE] = 1


@njit(cache=True)
def live_nodes(tree, out):
    """out[i] = whether node i is in the root's subtree, for the ids in use (bool[>= count]);
    returns how many are. With nothing cut off (``tmeta[T_STALE]`` 0) that is all of them."""
    parent = tree[T_PARENT]
    used = tree[T_META][T_COUNT]
    out[0] = True
    k = 1
    for i in range(1, used):
        p = parent[i]
        out[i] = p >= 0 and out[p]
        if out[i]:
            k += 1
    return k


@njit(cache=True, _nrt=False)
def _reroot_core(move, parent, first, nchild, prior, flags, n, nv, wv, nr, wr, ws, vl, tmeta,
                 node, new_id):
    """The two passes of ``reroot_in_place`` on the tree's arrays, without reference
    counting (a node copy through the tuple cost one per array and node; see
    ``_select_core``)."""
    used = tmeta[T_COUNT]
    new_id[0] = 0
    count = 1
    for i in range(node + 1, used):
        p = parent[_u(i)]
        if p >= node and new_id[_u(p - node)] >= 0:
            new_id[_u(i - node)] = count
            count += 1
        else:
            new_id[_u(i - node)] = -1
    for i in range(node, used):
        j = new_id[_u(i - node)]
        if j < 0:
            continue
        ui, uj = _u(i), _u(j)
        par = new_id[_u(parent[ui] - node)] if i != node else -1
        f, m = first[ui], nchild[ui]  # read before the copy clears them (j may be i)
        move[uj] = move[ui]
        parent[uj] = par
        prior[uj] = prior[ui]
        flags[uj] = flags[ui]
        n[uj] = n[ui]
        nv[uj] = nv[ui]
        wv[uj] = wv[ui]
        nr[uj] = nr[ui]
        wr[uj] = wr[ui]
        ws[uj] = ws[ui]
        vl[uj] = vl[ui]
        if f >= 0:
            first[uj] = new_id[_u(f - node)]
            nchild[uj] = m
        else:
            first[uj] = -1
            nchild[uj] = 0
    for i in range(tmeta.shape[0]):
        tmeta[i] = 0
    tmeta[T_COUNT] = count


@njit(cache=True)
def follow_moves(tree, root_board, scratch, points, stones, ko, ko_color):
    """The node reached from the root by playing ``points`` (int64[k], colours alternating
    from the root's side to move) if the tree holds every one of them and the position reached
    in ``scratch`` (overwritten) is ``stones`` with the ko point ``ko`` for ``ko_color``;
    else -1. This is how a search finds the subtree of the moves played since it last ran."""
    move, first, nchild = tree[T_MOVE], tree[T_FIRST], tree[T_NCHILD]
    copy_into(scratch, root_board)
    c = root_board[8][M_TOMOVE]
    node = 0
    for i in range(points.shape[0]):
        f = first[node]
        if f < 0:
            return -1
        hit = -1
        for j in range(f, f + nchild[node]):
            if move[j] == points[i]:
                hit = j
                break
        if hit < 0:
            return -1
        node = hit
        play(scratch, points[i], c)
        c = 3 - c
    if scratch[8][M_KO] != ko or scratch[8][M_KO_COLOR] != ko_color:
        return -1
    here = scratch[0]
    for p in range(here.shape[0]):
        if here[p] != stones[p]:
            return -1
    return node


@njit(cache=True, inline="always")
def _block_sum_f32(a, lo, hi):
    """numpy's sum of a float32 block of at most 128: eight running sums (fewer than 8
    values: one), in float32."""
    n = hi - lo
    if n < 8:
        res = np.float32(0.0)
        for i in range(lo, hi):
            res += a[i]
        return res
    r = np.empty(8, dtype=np.float32)
    for j in range(8):
        r[j] = a[lo + j]
    i = 8
    while i < n - n % 8:
        for j in range(8):
            r[j] += a[lo + i + j]
        i += 8
    res = (r[0] + r[1]) + (r[2] + r[3]) + ((r[4] + r[5]) + (r[6] + r[7]))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(cache=True)
def _sum_f32(a, lo, hi):
    """Sum of the float32 a[lo:hi] in numpy's order (``np.add.reduce``: blocks of at most 128
    summed pairwise, the halves split at a multiple of 8), so a kernel that renormalizes gives
    the very numbers numpy code gives. numpy's recursion runs on explicit stacks: Numba's
    cache does not keep recursive kernels safely."""
    span_lo = np.empty(64, dtype=np.int64)  # pending spans, innermost on top
    span_hi = np.empty(64, dtype=np.int64)
    stage = np.zeros(64, dtype=np.int8)  # of a split span: 0 sum the left half next, 1 the right, 2 add them
    sums = np.empty(64, dtype=np.float32)  # sums of finished halves, waiting for their sibling
    top, ns = 0, 0
    span_lo[0], span_hi[0] = lo, hi
    while top >= 0:
        l, h = span_lo[top], span_hi[top]
        if h - l <= 128:
            sums[ns] = _block_sum_f32(a, l, h)
            ns += 1
            top -= 1
            continue
        n2 = (h - l) // 2
        mid = l + n2 - n2 % 8
        if stage[top] == 2:
            ns -= 1
            sums[ns - 1] = sums[ns - 1] + sums[ns]
            top -= 1
            continue
        stage[top] += 1
        top += 1
        stage[top] = 0
        if stage[top - 1] == 1:
            span_lo[top], span_hi[top] = l, mid
        else:
            span_lo[top], span_hi[top] = mid, h
    return sums[0]


@njit(cache=True)
def filter_root(tree, legal, ok, clean):
    """Prepare the root's children for a search: a child whose move is not in ``legal`` (bool
    by padded point, its last entry for PASS) is disabled with prior 0, the others are
    enabled and their priors renormalized to sum 1 (when they sum to more than 0). Their ids
    go to ``ok`` (returns how many) and every child's prior, so filtered, to ``clean``."""
    f, m = tree[T_FIRST][0], tree[T_NCHILD][0]
    move, prior, flags = tree[T_MOVE], tree[T_PRIOR], tree[T_FLAGS]
    last = legal.shape[0] - 1
    count = 0
    kept = np.empty(m, dtype=np.float32)  # priors of the enabled children, in order
    for j in range(f, f + m):
        mv = move[j]
        if legal[last if mv == PASS else mv]:
            flags[j] &= ~np.uint8(F_DISABLED)
            kept[count] = prior[j]
            ok[count] = j
            count += 1
        else:
            flags[j] |= np.uint8(F_DISABLED)
            prior[j] = 0.0
    total = _sum_f32(kept, 0, count)
    if total > 0:
        for i in range(count):
            prior[ok[i]] = kept[i] / total
    for k in range(m):
        clean[k] = prior[f + k]
    return count


@njit(cache=True)
def mix_root_noise(prior, ok, k, values, start, eps):
    """Root noise into the priors of the enabled root children ok[:k] (``filter_root``):
    prior = (1 - eps) * prior + eps * noise, where noise[i] = values[start + i] over the sum
    of values[start:start + k] (``engine.search.DirichletNoise``)."""
    total = 0.0
    for i in range(k):
        total += values[start + i]
    if not total > 0.0:  # every variate underflowed: no noise this time
        return
    for i in range(k):
        j = ok[i]
        prior[j] = np.float32((1.0 - eps) * prior[j] + eps * (values[start + i] / total))


@njit(cache=True)
def ranked_children(tree, node, lam, out):
    """Ids of the children of ``node`` that have visits and are not disabled, best first, into
    out[:count]; returns count. Best: most visits, then the higher ``node_q``; ties keep the
    tree's order (an insertion sort: stable, and a root has at most N*N+1 children)."""
    f = tree[T_FIRST][node]
    if f < 0:
        return 0
    n, flags = tree[T_N], tree[T_FLAGS]
    m = tree[T_NCHILD][node]
    q = np.empty(m, dtype=np.float64)  # node_q of each child, by child index
    count = 0
    for k in range(m):
        j = f + k
        if n[j] <= 0 or (flags[j] & F_DISABLED) != 0:
            continue
        qj = node_q(tree, j, lam)
        q[k] = qj
        i = count
        while i > 0:
            p = out[i - 1]
            if n[p] > n[j] or (n[p] == n[j] and q[p - f] >= qj):
                break
            out[i] = p
            i -= 1
        out[i] = j
        count += 1
    return count


@njit(cache=True)
def root_visit_policy(tree, size, out):
    """out[a] = share of the root's visits that went to action a (row-major from the top-left,
    N*N = pass) over its enabled children; all zero before the root has any (float32[N*N+1])."""
    out[:] = 0.0
    f = tree[T_FIRST][0]
    if f < 0:
        return
    w = size + 2
    total = np.float32(0.0)  # float32 throughout: the division rounds once, as numpy's does
    for j in range(f, f + tree[T_NCHILD][0]):
        if (tree[T_FLAGS][j] & F_DISABLED) != 0:
            continue
        p = tree[T_MOVE][j]
        a = size * size if p == PASS else (p // w - 1) * size + p % w - 1
        out[a] = np.float32(tree[T_N][j])
        total += np.float32(tree[T_N][j])
    if total > 0:
        for a in range(out.shape[0]):
            out[a] = out[a] / total


@njit(cache=True)
def root_results(tree, lam, size, ranked, policy):
    """What a finished search tells in one call: ``ranked_children`` of the root into
    ``ranked`` (its count is returned first), the root's value for its player to move
    (0.5 before any sample), the best-ranked child's Q (-1 without one) and, when
    ``policy`` has entries, ``root_visit_policy(tree, size, policy)``."""
    count = ranked_children(tree, 0, lam, ranked)
    q = node_q(tree, 0, lam)
    root_value = flip(q) if q >= 0.0 else 0.5
    best = node_q(tree, ranked[0], lam) if count > 0 else -1.0
    if policy.shape[0] > 0:
        root_visit_policy(tree, size, policy)
    return count, root_value, best


@njit(cache=True, inline="always")
def flip(v):
    """The same value from the other player's view. The only place perspective changes."""
    return 1.0 - v


@njit(cache=True, inline="always")
def value_for(color, black_score):
    """Win value for ``color`` of a final black-minus-white score: 1 win, 0 loss, 0.5 jigo."""
    if black_score == 0.0:
        return 0.5
    black_wins = black_score > 0.0
    if (color == BLACK) == black_wins:
        return 1.0
    return 0.0


@njit(cache=True, inline="always")
def node_q(tree, i, lam):
    """Q of node i (mover's view): lam-mix of value-net and rollout means; -1 without samples."""
    return _q(tree[T_NV], tree[T_WV], tree[T_NR], tree[T_WR], i, lam)


@njit(cache=True, inline="always")
def _q(nv, wv, nr, wr, i, lam):
    """``node_q`` on the statistics arrays. With lam = 0 a node with value samples never
    reads the rollout arrays (the same number: (1 - 0) * a + 0 * b is a)."""
    u = _u(i)
    kv = nv[u]
    if lam == 0.0 and kv > 0:
        return wv[u] / kv
    kr = nr[u]
    if kv > 0 and kr > 0:
        return (1.0 - lam) * wv[u] / kv + lam * wr[u] / kr
    if kv > 0:
        return wv[u] / kv
    if kr > 0:
        return wr[u] / kr
    return -1.0


@njit(cache=True, inline="always")
def _pick(first, nchild, prior, flags, n, nv, wv, nr, wr, vl, node, c_puct, fpu_reduction,
          fpu_value, lam, vl_weight):
    """Child of ``node`` with the best PUCT score (virtual losses included); -1 if none. It
    takes the tree's arrays, not the tuple: it runs once per ply."""
    f = first[node]
    m = nchild[node]
    pn = n[node] + vl[node]
    cs = c_puct * math.sqrt(pn if pn > 1 else 1.0)
    if fpu_value >= 0.0:
        fpu = fpu_value
    else:
        qn = _q(nv, wv, nr, wr, node, lam)
        fpu = (flip(qn) if qn >= 0.0 else 0.5) - fpu_reduction
    best = -1
    best_s = -1e300
    root = node == 0  # only root children can be disabled
    for j in range(f, f + m):
        u = _u(j)
        if root and flags[u] & F_DISABLED:
            continue
        nj = n[u]
        vj = vl[u]
        if nj == 0 and vj == 0:
            # most children: never visited, none in flight; the general formula below gives
            # exactly this (q = fpu, divided by 1.0) at the cost of a division
            s = fpu + cs * prior[u]
        else:
            q = _q(nv, wv, nr, wr, j, lam) if nj > 0 else fpu
            neff = nj + vl_weight * vj
            if vj > 0:
                # in-flight simulations count as lost visits
                q = q * nj / neff
            s = q + cs * prior[u] / (1.0 + neff)
        if s > best_s:
            best_s = s
            best = j
    return best


@njit(cache=True, inline="always")
def batch_board(boards, i):
    """Row i of a batch of boards (tuple of 2-D arrays) as a board (tuple of views)."""
    return (boards[0][i], boards[1][i], boards[2][i], boards[3][i], boards[4][i],
            boards[5][i], boards[6][i], boards[7][i], boards[8][i])


@njit(cache=True, inline="always")
def _release_path(tree, node):
    """Take one in-flight mark off ``node`` and its ancestors."""
    vl = tree[T_VL]
    parent = tree[T_PARENT]
    x = node
    while x >= 0:
        vl[_u(x)] -= 1
        x = parent[_u(x)]


@njit(cache=True, nogil=True)
def select_leaves(tree, root_board, scratch, boards, leaf, expand, terminal, k, c_puct,
                  fpu_reduction, fpu_value, lam, vl_weight, expand_threshold, allow_dup,
                  max_collisions):
    """Pick up to ``k`` leaves, marking each path with a virtual loss.

    Row i of the batch gets the leaf id (``leaf``), its position (``boards``, replayed from
    ``root_board`` in ``scratch``), whether it must be expanded after evaluation (``expand``:
    the evaluator must give priors) and whether it ends the game (``terminal``: scored exactly,
    the evaluator may skip it). A leaf already in flight is taken again only when
    ``allow_dup`` (the evaluator draws independent samples, as rollouts do); otherwise its path
    is released and counted as a collision, and the batch closes early after
    ``max_collisions`` of them. Returns (leaves in the batch, collisions)."""
    no_stacks = np.empty((1, 1, 1), dtype=np.int8)  # no history stacks are written
    return _select_rows(tree, root_board, scratch, boards, leaf, expand, terminal, 0, k, c_puct,
                        fpu_reduction, fpu_value, lam, vl_weight, expand_threshold, allow_dup,
                        max_collisions, True, no_stacks, no_stacks[0], 0, no_stacks[0])


@njit(cache=True, nogil=True)
def _select_rows(tree, root_board, scratch, boards, leaf, expand, terminal, row0, k, c_puct,
                 fpu_reduction, fpu_value, lam, vl_weight, expand_threshold, allow_dup,
                 max_collisions, whole, stacks, root_stack, depth_h, ring):
    """``select_leaves`` writing its leaves to rows row0, row0 + 1, ... of the batch arrays;
    with ``whole`` False a row's board gets only what expansion and exact scoring read, and
    with ``depth_h`` > 0 stacks[row] gets the leaf's colour history (see ``select_many``),
    through ``ring`` (``_select_core``; unused when ``depth_h`` is 0)."""
    move, parent, first, nchild, prior, flags, n, nv, wv, nr, wr, ws, vl, tmeta = tree
    color, nxt, head, libs, csize, empt, eidx, mark, meta = scratch
    r0, r1, r2, r3, r4, r5, r6, r7, r8 = root_board
    b0, b1, b2, b3, b4, b5, b6, b7, b8 = boards
    return _select_core(move, parent, first, nchild, prior, flags, n, nv, wv, nr, wr, vl, tmeta,
                        color, nxt, head, libs, csize, empt, eidx, mark, meta,
                        r0, r1, r2, r3, r4, r5, r6, r7, r8, b0, b1, b2, b3, b4, b5, b6, b7, b8,
                        leaf, expand, terminal, row0, k, c_puct, fpu_reduction, fpu_value, lam,
                        vl_weight, expand_threshold, allow_dup, max_collisions, whole, stacks,
                        root_stack, depth_h, ring)


@njit(cache=True, nogil=True, _nrt=False)
def _select_core(move, parent, first, nchild, prior, flags, n, nv, wv, nr, wr, vl, tmeta,
                 color, nxt, head, libs, csize, empt, eidx, mark, meta,
                 r0, r1, r2, r3, r4, r5, r6, r7, r8, b0, b1, b2, b3, b4, b5, b6, b7, b8,
                 leaf, expand, terminal, row0, k, c_puct, fpu_reduction, fpu_value, lam,
                 vl_weight, expand_threshold, allow_dup, max_collisions, whole, stacks,
                 root_stack, h, ring):
    """The loop of ``_select_rows`` on the arrays of the tree (``move`` .. ``tmeta``), the
    scratch board (``color`` .. ``meta``), the root board (r0 .. r8) and the batch's boards
    (b0 .. b8); ``ring`` (int8[max(h, 1), (N+2)^2]) holds the colours after ply d at
    ring[d % h]. Without the runtime's reference counting (``_nrt=False``): with it, every
    array handed to an inlined helper (``_pick``, ``_copy_arrays``) cost an atomic increment
    and decrement per ply, which took 40% of the selection's time."""
    ww = color.shape[0]
    nm = meta.shape[0]
    count = 0
    collisions = 0
    while count < k:
        _copy_arrays(color, nxt, head, libs, csize, empt, eidx, mark, meta,
                     r0, r1, r2, r3, r4, r5, r6, r7, r8)
        node = 0
        depth = 0
        vl[0] += 1
        while first[node] >= 0 and (flags[node] & F_TERMINAL) == 0:
            child = _pick(first, nchild, prior, flags, n, nv, wv, nr, wr, vl, node, c_puct,
                          fpu_reduction, fpu_value, lam, vl_weight)
            if child < 0:
                break
            mv = np.int64(move[child])
            fc = first[child]
            if fc >= 0:
                # the next ply scans these children: ask for their lines now, so the misses
                # overlap the move played below instead of stalling the next _pick
                _prefetch_children(move, first, nchild, prior, n, nv, wv, vl, fc,
                                   fc + nchild[child])
            if mv == PASS:
                _pass(meta, meta[M_TOMOVE])
            else:
                _play(color, nxt, head, libs, csize, empt, eidx, mark, meta, mv, meta[M_TOMOVE])
            node = child
            vl[node] += 1
            if meta[M_PASSES] >= 2:
                flags[node] |= F_TERMINAL
            depth += 1
            if h > 0:
                slot = depth % h
                for p in range(ww):
                    ring[slot, p] = color[p]
        is_term = (flags[node] & F_TERMINAL) != 0
        in_flight = vl[node] > 1
        if in_flight and not is_term and not allow_dup:
            x = node  # the path's in-flight marks off again (_release_path)
            while x >= 0:
                vl[_u(x)] -= 1
                x = parent[_u(x)]
            collisions += 1
            tmeta[T_COLLISIONS] += 1
            if collisions >= max_collisions:
                break
            continue
        want = (not is_term and first[node] < 0 and not in_flight
                and (node == 0 or n[node] + 1 >= expand_threshold))
        r = row0 + count
        leaf[r] = node
        expand[r] = 1 if want else 0
        terminal[r] = 1 if is_term else 0
        for p in range(ww):
            b0[r, p] = color[p]
            b2[r, p] = head[p]
            b3[r, p] = libs[p]
        for p in range(ww if whole else meta[M_NEMPTY]):
            b5[r, p] = empt[p]
        if whole or is_term:
            for p in range(ww):
                b7[r, p] = mark[p]
        if whole:
            for p in range(ww):
                b1[r, p] = nxt[p]
                b4[r, p] = csize[p]
                b6[r, p] = eidx[p]
        for p in range(nm):
            b8[r, p] = meta[p]
        for t in range(h):  # t positions before the leaf: on the path, then the root's history
            if t < depth:
                slot = (depth - t) % h
                for p in range(ww):
                    stacks[r, t, p] = ring[slot, p]
            else:
                for p in range(ww):
                    stacks[r, t, p] = root_stack[t - depth, p]
        count += 1
    return count, collisions


@njit(cache=True, nogil=True)
def release_batch(tree, leaf, count):
    """Take a batch's virtual losses back without backing anything up (evaluation failed)."""
    for i in range(count):
        _release_path(tree, leaf[i])


@njit(cache=True, inline="always")
def _expand(move, parent, first, nchild, prior, flags, n, nv, wv, nr, wr, ws, vl, tmeta, node,
            color, head, libs, empt, meta, pri, row):
    """Give ``node`` one child per legal point of the position in row ``row`` of the batch's
    board arrays (``color``, ``head``, ``libs``, ``empt``, ``meta``) under simple ko, plus
    pass, with priors from pri[row] (float32[N*N+1] by action) renormalised over those moves;
    uniform when they sum to zero. Returns False, changing nothing, when the tree has no room.
    It takes the tree's arrays and whole batch arrays, no tuple, and runs inside
    ``_backup_core``, where its row views cost no reference counting."""
    cap = move.shape[0]
    nn = meta[row, M_N]
    w = meta[row, M_W]
    c = meta[row, M_TOMOVE]
    ne = meta[row, M_NEMPTY]
    start = tmeta[T_COUNT]
    if start + ne + 1 > cap:
        tmeta[T_REFUSED] += 1
        return False
    ko = meta[row, M_KO]
    ko_color = meta[row, M_KO_COLOR]
    j = start
    total = 0.0
    for i in range(ne):
        p = empt[row, i]
        # is_legal on an empty point, inlined: a call per point that passes the board tuple
        # costs more than the test itself
        if not (p == ko and c == ko_color) and _chains_allow(color[row], head[row], libs[row],
                                                             w, p, c):
            pr = pri[row, (p // w - 1) * nn + (p % w - 1)]
            move[j] = p
            prior[j] = pr
            total += pr
            j += 1
    move[j] = PASS
    prior[j] = pri[row, nn * nn]
    total += pri[row, nn * nn]
    j += 1
    m = j - start
    for i in range(start, j):
        parent[i] = node
        first[i] = -1
        nchild[i] = 0
        prior[i] = prior[i] / total if total > 0.0 else 1.0 / m
        flags[i] = 0
        n[i] = 0
        nv[i] = 0
        wv[i] = 0.0
        nr[i] = 0
        wr[i] = 0.0
        ws[i] = 0.0
        vl[i] = 0
    first[node] = start
    nchild[node] = m
    tmeta[T_COUNT] = j
    return True


@njit(cache=True, nogil=True)
def expand_and_backup(tree, boards, leaf, expand, terminal, count, priors, value, rollout, score,
                      use_value, use_rollout, komi):
    """Finish a batch: release virtual losses, expand the leaves marked ``expand`` and back up
    each leaf's evaluation to the root.

    ``value`` (value net) and ``rollout`` (rollout result) are for the side to move at the leaf;
    ``score`` is the rollout's final black-minus-white score. Only the kinds flagged by
    ``use_value`` / ``use_rollout`` are read. A terminal leaf is scored exactly with
    Tromp-Taylor and komi, and that result counts as both kinds."""
    _backup_rows(tree, boards, leaf, expand, terminal, 0, count, priors, value, rollout, score,
                 use_value, use_rollout, komi, np.empty(max(count, 1)))


@njit(cache=True, nogil=True)
def _backup_rows(tree, boards, leaf, expand, terminal, row0, count, priors, value, rollout, score,
                 use_value, use_rollout, komi, exact):
    """``expand_and_backup`` of the batch rows row0 .. row0 + count - 1: the terminal rows
    are scored here into exact[row] (float64[rows]; scoring allocates), the rest is
    ``_backup_core``."""
    move, parent, first, nchild, prior, flags, n, nv, wv, nr, wr, ws, vl, tmeta = tree
    b0, b1, b2, b3, b4, b5, b6, b7, b8 = boards
    for i in range(row0, row0 + count):
        if terminal[i] != 0:
            exact[i] = area_score(batch_board(boards, i), komi)
    _backup_core(move, parent, first, nchild, prior, flags, n, nv, wv, nr, wr, ws, vl, tmeta,
                 b0, b2, b3, b5, b8, leaf, expand, terminal, row0, count, priors, value, rollout,
                 score, use_value, use_rollout, exact)


@njit(cache=True, inline="always")
def _prefetch_backup_row(parent, first, n, nv, wv, vl, color, head, libs, empt, meta, priors,
                         leaf, i, ww):
    """``_prefetch`` what the backup of batch row i reads first: its leaf's statistics and
    the row's position and priors, which expansion reads."""
    x = leaf[i]
    _prefetch(parent, x)
    _prefetch(first, x)
    _prefetch(n, x)
    _prefetch(nv, x)
    _prefetch(wv, x)
    _prefetch(vl, x)
    _prefetch_range(meta[i], 0, meta.shape[1])
    _prefetch_range(color[i], 0, ww)
    _prefetch_range(head[i], 0, ww)
    _prefetch_range(libs[i], 0, ww)
    _prefetch_range(empt[i], 0, ww)
    _prefetch_range(priors[i], 0, priors.shape[1])


@njit(cache=True, inline="always")
def _prefetch_new_nodes(move, parent, first, nchild, prior, flags, n, nv, wv, nr, wr, ws, vl,
                        lo, hi):
    """``_prefetch_w`` nodes lo .. hi-1 of a tree's arrays, where an expansion writes."""
    for a in literal_unroll((move, parent, first, nchild, prior, flags, n, nv, wv, nr, wr, ws,
                             vl)):
        _prefetch_range(a, lo, hi, True)


@njit(cache=True, inline="always")
def _prefetch_backup_game(trees, g, color, head, libs, empt, meta, leaf, expand, priors, r, ww):
    """``_prefetch`` what the backup of search g (row g of a tree table) reads first, its
    first row r and, if that expands, where its children go, while the search before it in
    ``backup_many`` still runs."""
    move, parent, first, nchild, prior, flags, n, nv, wv, nr, wr, ws, vl, tmeta = \
        _tree_at(trees, g)
    _prefetch_backup_row(parent, first, n, nv, wv, vl, color, head, libs, empt, meta, priors,
                         leaf, r, ww)
    if expand[r]:
        lo = tmeta[T_COUNT]
        hi = min(lo + ww // 2, move.shape[0])  # children: about half the points
        _prefetch_new_nodes(move, parent, first, nchild, prior, flags, n, nv, wv, nr, wr, ws, vl,
                            lo, hi)


@njit(cache=True, nogil=True, _nrt=False)
def _backup_core(move, parent, first, nchild, prior, flags, n, nv, wv, nr, wr, ws, vl, tmeta,
                 color, head, libs, empt, meta, leaf, expand, terminal, row0, count, priors,
                 value, rollout, score, use_value, use_rollout, exact):
    """The loop of ``_backup_rows`` on the tree's arrays and the batch's (exact[row]: the
    score of a terminal row), without the runtime's reference counting (``_nrt=False``,
    as ``_select_core``: a tuple or row view per leaf or per child cost atomic reference
    counts that took a third of the backup's time)."""
    ww = color.shape[1]
    for i in range(row0, row0 + count):
        if i + 1 < row0 + count:
            _prefetch_backup_row(parent, first, n, nv, wv, vl, color, head, libs, empt, meta,
                                 priors, leaf, i + 1, ww)
            if expand[i + 1]:
                # the next row's new children go after this row's, about as many of them
                ne = meta[i, M_NEMPTY] + 1
                lo = tmeta[T_COUNT] + (ne if expand[i] and first[leaf[i]] < 0 else 0)
                hi = min(lo + ne, move.shape[0])
                _prefetch_new_nodes(move, parent, first, nchild, prior, flags, n, nv, wv, nr,
                                    wr, ws, vl, lo, hi)
        node = leaf[i]
        to_move = meta[i, M_TOMOVE]
        term = terminal[i] != 0
        add_v = use_value or term
        add_r = use_rollout or term
        if term:
            s = exact[i]
            v = value_for(to_move, s)
            r = v
        else:
            if expand[i] and first[node] < 0:
                _expand(move, parent, first, nchild, prior, flags, n, nv, wv, nr, wr, ws, vl,
                        tmeta, node, color, head, libs, empt, meta, priors, i)
            v = value[i]
            r = rollout[i]
            s = score[i]
        # statistics of a node are from its mover's view: the leaf's mover is the opponent
        # of the side to move at the leaf
        v = flip(v)
        r = flip(r)
        x = node
        while x >= 0:
            u = _u(x)
            vl[u] -= 1
            n[u] += 1
            if add_v:
                nv[u] += 1
                wv[u] += v
            if add_r:
                nr[u] += 1
                wr[u] += r
                ws[u] += s
            v = flip(v)
            r = flip(r)
            x = parent[u]


# ---------------------------------------------------------------------------------------------
# Many searches at once: tables of addresses

TREE_COLS = 15  # a tree's row in a tree table: its 13 node arrays and tmeta, then its capacity
BOARD_COLS = 9  # a root board's row in a board table: its 9 arrays


_TREE_DTYPES = _PER_NODE_DTYPES + (np.int64,)  # as _tree_at reads them
_BOARD_DTYPES = (np.int8,) + (np.int32,) * 7 + (np.int64,)  # as _board_at reads them


def _addresses(arrays, dtypes, what):
    """The data addresses of ``arrays``, after checking that each is contiguous and of the
    dtype the kernels will read it as."""
    if len(arrays) != len(dtypes) or any(
            a.dtype != d or not a.flags.c_contiguous for a, d in zip(arrays, dtypes)):
        raise TypeError(f"not a {what} of the engine's layout")
    return [a.ctypes.data for a in arrays]


def table_tree(table, g, tree):
    """Row g of a tree table (int64[searches, TREE_COLS]) for ``tree``. The table holds bare
    addresses: the caller keeps ``tree`` alive while the table is used with it."""
    table[g, :TREE_COLS - 1] = _addresses(tree, _TREE_DTYPES, "tree")
    table[g, TREE_COLS - 1] = tree[T_MOVE].shape[0]


def table_board(table, g, board):
    """Row g of a board table (int64[searches, BOARD_COLS]) for ``board``; as ``table_tree``."""
    table[g, :] = _addresses(board, _BOARD_DTYPES, "board")


@intrinsic
def _as_pointer(typingctx, addr, dtype):
    """A pointer to ``dtype`` (a numpy scalar type) at the integer address ``addr``."""
    if not isinstance(addr, types.Integer):
        return None
    dt = dtype.dtype if isinstance(dtype, types.DType) else getattr(dtype, "instance_type", None)
    if not isinstance(dt, types.Number):
        return None

    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], context.get_value_type(sig.return_type))

    return types.CPointer(dt)(addr, dtype), codegen


@njit(cache=True, inline="always")
def _tree_at(table, g):
    """The tree of row g of a tree table, as views of its arrays that own nothing."""
    cap = table[g, TREE_COLS - 1]
    return (carray(_as_pointer(table[g, 0], np.int16), cap),
            carray(_as_pointer(table[g, 1], np.int32), cap),
            carray(_as_pointer(table[g, 2], np.int32), cap),
            carray(_as_pointer(table[g, 3], np.int16), cap),
            carray(_as_pointer(table[g, 4], np.float32), cap),
            carray(_as_pointer(table[g, 5], np.uint8), cap),
            carray(_as_pointer(table[g, 6], np.int32), cap),
            carray(_as_pointer(table[g, 7], np.int32), cap),
            carray(_as_pointer(table[g, 8], np.float64), cap),
            carray(_as_pointer(table[g, 9], np.int32), cap),
            carray(_as_pointer(table[g, 10], np.float64), cap),
            carray(_as_pointer(table[g, 11], np.float64), cap),
            carray(_as_pointer(table[g, 12], np.int16), cap),
            carray(_as_pointer(table[g, 13], np.int64), 8))


@njit(cache=True, inline="always")
def _board_at(table, g, ww, nm):
    """The board of row g of a board table (``_tree_at``); ww points, nm meta slots."""
    return (carray(_as_pointer(table[g, 0], np.int8), ww),
            carray(_as_pointer(table[g, 1], np.int32), ww),
            carray(_as_pointer(table[g, 2], np.int32), ww),
            carray(_as_pointer(table[g, 3], np.int32), ww),
            carray(_as_pointer(table[g, 4], np.int32), ww),
            carray(_as_pointer(table[g, 5], np.int32), ww),
            carray(_as_pointer(table[g, 6], np.int32), ww),
            carray(_as_pointer(table[g, 7], np.int32), ww),
            carray(_as_pointer(table[g, 8], np.int64), nm))


# round_wants flags
W_ROOT = 1  # the root has no children yet: it is evaluated alone first
W_GROW = 2  # the tree may not have room for the expansions of its leaves: grow it first
W_DONE = 4  # the search wants no more simulations


@njit(cache=True)
def round_wants(trees, k, m, kmax, per_leaf, flags):
    """The leaves each of searches 0 .. m-1 (rows of the tree table ``trees``) may select in a
    round. On entry k[g] is the simulations search g still wants; on exit it is at most
    ``kmax`` of them, or 1 while its root has no children. flags[g] gets W_ROOT in that case,
    W_DONE when nothing is wanted, W_GROW when its tree cannot take ``per_leaf`` new nodes for
    each leaf. Returns how many searches have a flag."""
    flagged = 0
    for g in range(m):
        tree = _tree_at(trees, g)
        f = 0
        if tree[T_FIRST][0] < 0:
            k[g] = 1
            f = W_ROOT
        elif k[g] < 1:
            f = W_DONE
        elif k[g] > kmax:
            k[g] = kmax
        if tree[T_META][T_COUNT] + k[g] * per_leaf > tree[T_MOVE].shape[0]:
            f |= W_GROW
        flags[g] = f
        if f:
            flagged += 1
    return flagged


@njit(cache=True, inline="always")
def _prefetch_game(trees, root_boards, root_stacks, g, ww, nm):
    """Ask for what the first leaf of search g reads first, its root board, root history and
    the root's children, while the search before it in ``select_many`` still runs: after a
    forward pass these come from L3, and one search's selection is long enough to hide that."""
    for a in literal_unroll(_board_at(root_boards, g, ww, nm)):
        _prefetch_range(a, 0, a.shape[0])
    for t in range(root_stacks.shape[1]):
        _prefetch_range(root_stacks[g, t], 0, root_stacks.shape[2])
    move, parent, first, nchild, prior, flags, n, nv, wv, nr, wr, ws, vl, tmeta = \
        _tree_at(trees, g)
    f = first[0]
    if f >= 0:
        hi = f + nchild[0]
        _prefetch_children(move, first, nchild, prior, n, nv, wv, vl, f, hi)
        _prefetch_range(flags, f, hi)


@njit(cache=True, nogil=True)
def select_many(trees, root_boards, root_stacks, scratch, boards, stacks, ring, leaf, expand,
                terminal, row0, k, counts, lo, hi, c_puct, fpu_reduction, fpu_value, lam,
                vl_weight, expand_threshold, allow_dup, max_collisions):
    """``select_leaves`` for searches lo .. hi-1 of a group sharing one batch, in one call.

    ``trees`` and ``root_boards`` are tables (``table_tree``, ``table_board``: one tree / root
    board per search); search g picks up to k[g] leaves into the rows row0[g], row0[g] + 1, ...
    of the shared batch arrays and its leaf count goes to counts[g]. Disjoint lo .. hi ranges
    may run in parallel threads, each with its own ``scratch`` board and ``ring``
    (int8[H, (N+2)^2]) (the GIL is released).

    The rows are for a network and ``backup_many``. stacks[row] (int8[H, (N+2)^2]) gets the
    leaf's history: the colours of the leaf's position, of the one before it, ... along the
    path, then root_stacks[g] (the same layout for the root, ``nets.features.history_stack``):
    the network's input, taken from the positions the descent plays anyway. Each row's board
    holds what expansion and exact scoring read, the leaf's colours, chain heads, liberties,
    list of empty points (its first meta[M_NEMPTY] entries) and meta, and the marks of a
    terminal leaf; not its chain links, chain sizes, empty-point index or the rest, which an
    evaluator that plays on from the leaf (rollouts) would need. Writing them cost a fifth of
    the selection."""
    h = stacks.shape[1]
    color, nxt, head, libs, csize, empt, eidx, mark, meta = scratch
    b0, b1, b2, b3, b4, b5, b6, b7, b8 = boards
    ww = color.shape[0]
    nm = meta.shape[0]
    for g in range(lo, hi):
        if g + 1 < hi:
            _prefetch_game(trees, root_boards, root_stacks, g + 1, ww, nm)
        move, parent, first, nchild, prior, flags, n, nv, wv, nr, wr, ws, vl, tmeta = \
            _tree_at(trees, g)
        r0, r1, r2, r3, r4, r5, r6, r7, r8 = _board_at(root_boards, g, ww, nm)
        counts[g] = _select_core(move, parent, first, nchild, prior, flags, n, nv, wv, nr, wr,
                                 vl, tmeta, color, nxt, head, libs, csize, empt, eidx, mark,
                                 meta, r0, r1, r2, r3, r4, r5, r6, r7, r8, b0, b1, b2, b3, b4,
                                 b5, b6, b7, b8, leaf, expand, terminal, row0[g], k[g], c_puct,
                                 fpu_reduction, fpu_value, lam, vl_weight, expand_threshold,
                                 allow_dup, max_collisions, False, stacks, root_stacks[g], h,
                                 ring)[0]


@njit(cache=True)
def _score_row(boards, i, komi):
    """Tromp-Taylor score of batch row i (a terminal leaf; scoring allocates)."""
    return area_score(batch_board(boards, i), komi)


@njit(cache=True, nogil=True)
def backup_many(trees, boards, leaf, expand, terminal, row0, counts, lo, hi, priors, value,
                rollout, score, use_value, use_rollout, komi, exact):
    """``expand_and_backup`` for searches lo .. hi-1 of a group sharing one batch: search g's
    leaves are the rows row0[g] .. row0[g] + counts[g] - 1 (as ``select_many`` left them),
    ``trees`` a tree table; exact (float64[rows]) takes the scores of terminal rows.
    Disjoint ranges may run in parallel threads."""
    b0, b1, b2, b3, b4, b5, b6, b7, b8 = boards
    ww = b0.shape[1]
    for g in range(lo, hi):
        if g + 1 < hi and counts[g + 1] > 0:
            _prefetch_backup_game(trees, g + 1, b0, b2, b3, b5, b8, leaf, expand, priors,
                                  row0[g + 1], ww)
        move, parent, first, nchild, prior, flags, n, nv, wv, nr, wr, ws, vl, tmeta = \
            _tree_at(trees, g)
        for i in range(row0[g], row0[g] + counts[g]):
            if terminal[i] != 0:
                exact[i] = _score_row(boards, i, komi)
        _backup_core(move, parent, first, nchild, prior, flags, n, nv, wv, nr, wr, ws, vl,
                     tmeta, b0, b2, b3, b5, b8, leaf, expand, terminal, row0[g], counts[g],
                     priors, value, rollout, score, use_value, use_rollout, exact)


@njit(cache=True, nogil=True)
def release_many(trees, leaf, row0, counts, lo, hi):
    """``release_batch`` for searches lo .. hi-1 of a group (their batch will not be
    answered); ``trees`` a tree table."""
    for g in range(lo, hi):
        move, parent, first, nchild, prior, flags, n, nv, wv, nr, wr, ws, vl, tmeta = \
            _tree_at(trees, g)
        for i in range(row0[g], row0[g] + counts[g]):
            x = leaf[i]
            while x >= 0:
                vl[_u(x)] -= 1
                x = parent[_u(x)]


@njit(cache=True)
def batch_rows(row0, counts, terminal, group, which, out):
    """Write to ``out`` the non-terminal rows of the searches g with group[g] == which (the
    ``select_many`` layout), search by search, and return how many there are: the rows one
    evaluator answers."""
    m = 0
    for g in range(row0.shape[0]):
        if group[g] != which:
            continue
        for i in range(row0[g], row0[g] + counts[g]):
            if terminal[i] == 0:
                out[m] = i
                m += 1
    return m


@njit(cache=True, nogil=True)
def ask_values(tree, leaf, terminal, count, out):
    """Write to ``out`` the distinct non-terminal leaves of a batch not yet sent to the value
    network, mark them ``F_VALUE_ASKED`` and return how many there are."""
    flags = tree[T_FLAGS]
    k = 0
    for i in range(count):
        x = leaf[i]
        if terminal[i] == 0 and not flags[x] & F_VALUE_ASKED:
            flags[x] |= F_VALUE_ASKED
            out[k] = x
            k += 1
    return k


@njit(cache=True, nogil=True)
def backup_values(tree, nodes, values, count):
    """One value-net sample per node: ``values[i]`` is the win probability for the side to move
    at ``nodes[i]``, added to the node and its ancestors (Nv, Wv) in each one's mover's view."""
    parent = tree[T_PARENT]
    nv = tree[T_NV]
    wv = tree[T_WV]
    for i in range(count):
        v = flip(values[i])
        x = nodes[i]
        while x >= 0:
            nv[x] += 1
            wv[x] += v
            v = flip(v)
            x = parent[x]


@njit(cache=True, nogil=True)
def set_child_priors(tree, nodes, priors, count, n):
    """Replace the priors of the children of ``nodes[i]`` by ``priors[i]`` (float32[N*N+1] by
    action, renormalised over the children; disabled children get 0) and mark the node
    ``F_NET_PRIOR``. A node without children (its expansion was refused) is left alone."""
    first = tree[T_FIRST]
    nchild = tree[T_NCHILD]
    move = tree[T_MOVE]
    prior = tree[T_PRIOR]
    flags = tree[T_FLAGS]
    w = n + 2
    for i in range(count):
        x = nodes[i]
        f = first[x]
        if f < 0:
            continue
        total = 0.0
        for j in range(f, f + nchild[x]):
            p = move[j]
            a = n * n if p == PASS else (p // w - 1) * n + (p % w - 1)
            pr = 0.0 if flags[j] & F_DISABLED else priors[i, a]
            prior[j] = pr
            total += pr
        for j in range(f, f + nchild[x]):
            prior[j] = prior[j] / total if total > 0.0 else 1.0 / nchild[x]
        flags[x] |= F_NET_PRIOR


@njit(cache=True)
def path_from(parent, move, node):
    """Moves from the root (node 0) down to ``node`` read from the tree's ``parent`` / ``move``
    arrays (padded points / PASS), root side first: int32[depth]."""
    depth = 0
    x = node
    while x > 0:
        depth += 1
        x = parent[x]
    out = np.empty(depth, dtype=np.int32)
    x = node
    for d in range(depth - 1, -1, -1):
        out[d] = move[x]
        x = parent[x]
    return out


@njit(cache=True)
def path_moves(tree, node):
    """Moves from the root down to ``node`` (padded points / PASS), root side first."""
    return path_from(tree[T_PARENT], tree[T_MOVE], node)


@njit(cache=True)
def uniform_priors(b, c, out):
    """Equal prior on every legal point for c and on pass, zero elsewhere (out: float32[N*N+1])."""
    meta = b[8]
    nn = meta[M_N]
    w = meta[M_W]
    out[:] = 0.0
    empt = b[5]
    for i in range(meta[M_NEMPTY]):
        p = empt[i]
        if is_legal(b, p, c):
            out[(p // w - 1) * nn + (p % w - 1)] = 1.0
    out[nn * nn] = 1.0


# Prior over the moves of a leaf for the rollout evaluator (board, colour, float32[N*N+1] out).
leaf_priors = heuristic_priors


@njit(cache=True, nogil=True)
def rollout_batch(boards, lo, hi, expand, terminal, priors, rollout, score, rng, mode, komi,
                  pat_weights, scratch, want_owner, owner_tmp, owner_sum):
    """Evaluate rows lo..hi-1 of a batch with playouts: priors (``leaf_priors``) for the rows to
    expand, one playout per non-terminal row from a copy of its position. ``rollout`` gets the
    result for the side to move at the leaf, ``score`` the final score (black's view). With
    ``want_owner`` the Tromp-Taylor owner of each final position is added to ``owner_sum``.
    Releases the GIL: disjoint row ranges may run in parallel threads."""
    for i in range(lo, hi):
        b = batch_board(boards, i)
        c = b[8][M_TOMOVE]
        if expand[i]:
            leaf_priors(b, c, priors[i])
        if terminal[i]:
            continue
        copy_into(scratch, b)
        s = run_playout(scratch, rng, mode, komi, pat_weights)
        record_playout(scratch, c, s, i, rollout, score, want_owner, owner_tmp, owner_sum)


@njit(cache=True, inline="always")
def record_playout(final, c, s, i, rollout, score, want_owner, owner_tmp, owner_sum):
    """Store row i's playout: final score ``s`` (black's view), its result for ``c`` (the side
    to move at the leaf) and, with ``want_owner``, the final board's owners into ``owner_sum``."""
    score[i] = s
    rollout[i] = value_for(c, s)
    if want_owner:
        area_owner(final, owner_tmp)
        for a in range(owner_tmp.shape[0]):
            owner_sum[a] += owner_tmp[a]


@njit(cache=True)
def check_tree(tree):
    """Structural invariants, for tests: returns an error code, 0 when consistent.

    1 a child's parent is wrong, 2 a node's visits are below the sum of its children's,
    3 virtual loss left, 4 sample counts above visits."""
    used = tree[T_META][T_COUNT]
    first = tree[T_FIRST]
    m = tree[T_NCHILD]
    n = tree[T_N]
    for i in range(used):
        if tree[T_VL][i] != 0:
            return 3
        if tree[T_NV][i] > n[i] or tree[T_NR][i] > n[i]:
            return 4
        if first[i] >= 0:
            tot = 0
            for j in range(first[i], first[i] + m[i]):
                if tree[T_PARENT][j] != i:
                    return 1
                tot += n[j]
            if tot > n[i]:
                return 2
    return 0
