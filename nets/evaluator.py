"""Policy/value networks over history stacks: ``StackNet`` and ``NetEvaluator``.

``StackNet`` is what every AlphaGo Zero network user here shares: the model on its device in
eval mode, the board-size check, growing per-row buffers, a scratch board to replay leaf paths
on, one seeded symmetry per evaluated position and the forward pass. ``NetEvaluator`` (below,
the ``engine.search`` evaluator of the GTP engine) and ``selfplay.zero_selfplay.BatchedNet``
(the leaves of many self-play trees in one forward pass) are ``StackNet`` subclasses that differ
only in where their rows come from and where the answers go.

Per batch of leaves (``engine.search.LeafBatch``), with one jitted call for each step:

1. history stacks of the leaves (``nets.features.leaf_stacks``): each leaf's path is replayed
   from the root board and the root's history (computed once per search) is appended;
2. cache look-up (optional, ``NetEvaluator``): rows whose key is cached are answered at once;
3. planes of the remaining rows, each under its own random symmetry (seeded stream);
4. one forward pass of the model under ``torch.inference_mode()``;
5. softmax over actions, the symmetry undone on the policy, the value v in [-1, 1] (side to move)
   mapped to the win probability (v + 1) / 2 the tree expects.

``evaluate_states(states)`` does steps 2-5 for whole ``GameState`` positions (several games'
positions in one forward pass) and returns (priors, values).

Cache key: ``nets.features.stack_keys``, i.e. the situation hash of the position (stones, side
to move, ko point) mixed with the stone hashes of the 7 positions before it: exactly what the
network input depends on, plus the ko point. A cached answer keeps the symmetry it was computed
under. The cache is LRU, ``cache_size`` entries (0 = off).

The model is put in eval mode (batch norm uses its running statistics) and on ``device``
(CUDA when available unless given). Torch's thread count is left to the caller.

Precision: ``precision="bf16"`` runs the forward pass under ``torch.autocast`` in bfloat16
(convolutions and linear layers in bf16, batch norm and the outputs in float32). On a CPU with
native bf16 instructions (``avx512_bf16`` or ``amx_bf16`` in /proc/cpuinfo) that is 2.5-3x
the float32 throughput at batch 8 and more for b6c64; priors move by about 1e-3, far below
what changes a search. ``"auto"`` picks bf16 where the hardware has it natively (such a CPU, or
a CUDA device that supports bf16) and float32 elsewhere, where emulated bf16 would be slower.
The default of the classes is ``"fp32"``, so results are the same on every machine unless a
caller (the GTP engine: ``--precision``) asks. ``"int8"`` (CPU only) runs
``nets.quantize.int8_graph``: the network quantized to int8 after calibration on seeded
random positions, several times the float32 throughput on CPUs with int8 dot-product
instructions, at the cost of outputs that move more than bf16's (see that module). ``"auto"``
picks int8 only for a caller that passes ``int8_ok`` (the players of ``engine.search``: at equal
time per move the faster int8 search measured stronger than bf16, docs/ZERO-9x9.md) on a CPU
with int8 dot products; self-play, gating and training ask for their precision by name.

Inference graph: on the CPU the forward pass runs a frozen TorchScript graph of the model
(``inference_graph``: traced once, batch norm folded into the convolutions, ReLU fused, oneDNN
kernels with the weights packed once), 1.3-1.8x the eager module's throughput at batch 8 and
more, with logits within about 1e-5 of it. In bf16 the graph is traced under autocast, so the
casts and the bf16 weights are part of it: 1.2-1.4x the eager module under autocast on 19x19
b6c64 at batch 8 (docs/BENCHMARKS.md). A graph also runs without the GIL, so the self-play
lanes of one process overlap their forward passes with each other's tree work, where the eager
module's per-layer Python would make them take turns. TorchScript is deprecated in recent
PyTorch releases: where the graph cannot be built the evaluator says so in the log and runs
the eager module; ``graph=False`` asks for the eager module outright. CUDA, and any model
other than ``nets.resnet``'s ``AlphaZeroNet``, always run eagerly.
"""
import copy
import functools
import logging
import time
import warnings
from collections import OrderedDict

import numpy as np
import torch

from engine import mcts
from engine.board import M_TOMOVE, new_board
from nets.features import (HISTORY, PLANES, fill_planes_rows, history_stack, leaf_stacks,
                           stack_keys, unsymmetrize_policy_to)
from nets.heap import keep_heap_mapped
from nets.quantize import int8_graph
from nets.resnet import AlphaZeroNet


PRECISIONS = ("auto", "fp32", "bf16", "int8")
logger = logging.getLogger("nets.evaluator")


@functools.lru_cache(maxsize=1)
def _cpu_flags():
    """The instruction-set flags of this CPU from /proc/cpuinfo (empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_native_bf16():
    """Whether this CPU executes bf16 arithmetic natively (AVX512-BF16 or AMX-BF16)."""
    return bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})


def cpu_has_int8_dot():
    """Whether this CPU has int8 dot-product instructions (AVX512-VNNI, AVX-VNNI or AMX-INT8),
    where the int8 convolutions of ``nets.quantize`` outrun the float32 and bf16 ones."""
    return bool(_cpu_flags() & {"avx512_vnni", "avx_vnni", "amx_int8"})


def resolve_precision(precision, device, int8_ok=False):
    """"fp32", "bf16" or "int8" for ``precision`` (one of PRECISIONS) on ``device`` (a
    torch.device). "auto" picks int8 only where the caller says int8's outputs are good enough
    (``int8_ok``: the players, whose strength at equal time was measured with it) and the CPU
    has int8 dot products; otherwise bf16 where the hardware has it natively, else fp32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "int8" and device.type != "cpu":
        raise ValueError(f"precision int8 runs on the CPU only, not on {device.type}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        if int8_ok and cpu_has_int8_dot():
            return "int8"
        return "bf16" if cpu_has_native_bf16() else "fp32"
    return "fp32"


class _PolicyValue(torch.nn.Module):
    """The policy logits and the value of a network, the outputs a graph is traced for."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = self.model(x)
        return out[0], out[1]


def inference_graph(model, board_size, precision="fp32"):
    """A frozen TorchScript graph of ``model``'s (policy logits [B, N*N+1], value [B]) for CPU
    inference on float32 input [B, C, N, N] of any batch size; the model itself is left
    untouched. ``precision`` "bf16" traces the model under bf16 autocast: the casts are part of
    the graph, the weights are stored in bf16 and the outputs come out in bf16. None, with a
    warning in the log, when this PyTorch cannot build it."""
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"inference graphs are fp32 or bf16, not {precision!r}")
    planes = getattr(getattr(model, "config", None), "in_planes", PLANES)
    x = torch.zeros(8, planes, board_size, board_size)
    try:
        with warnings.catch_warnings(), torch.no_grad(), \
                torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            # TorchScript's deprecation notices and the tracer's note that the input-shape
            # check of the forward pass is a constant of the trace (it is: shapes are fixed)
            warnings.simplefilter("ignore")
            net = _PolicyValue(copy.deepcopy(model).cpu().float().eval()).eval()
            traced = torch.jit.trace(net, x, check_trace=False)
            graph = torch.jit.freeze(traced)
            if precision == "fp32":
                # oneDNN layouts: a gain in float32, none measured in bf16
                graph = torch.jit.optimize_for_inference(graph)
        with torch.no_grad():
            graph(x)  # the first calls pack the weights for oneDNN
            graph(x)
    except Exception as e:  # no TorchScript in this PyTorch, or an op it cannot trace
        logger.warning("inference graph unavailable (%s: %s); running the eager module",
                       type(e).__name__, str(e).splitlines()[0] if str(e) else "")
        return None
    return graph


class StackNet:
    """A model mapping float32[B, 17, N, N] to (policy logits [B, N*N+1], value [B] in [-1, 1],
    ...), fed from history stacks int8[rows, HISTORY, (N+2)^2]: the part the search evaluator
    and batched self-play share.

    ``seed`` seeds the symmetry stream as ``np.random.default_rng(seed)`` does (an int or a
    sequence of ints), so each subclass keeps the stream its games were recorded with.
    ``precision``: one of PRECISIONS; ``int8_ok``: let "auto" pick int8 (``resolve_precision``);
    ``graph``: in float32 or bf16 on the CPU, run ``inference_graph`` rather than the eager
    module (module docstring)."""

    def __init__(self, model, board_size, device=None, random_symmetry=True, seed=0,
                 precision="fp32", graph=True, int8_ok=False):
        size = getattr(getattr(model, "config", None), "board_size", None)
        if size is not None and size != board_size:
            raise ValueError(f"network is for {size}x{size} boards, "
                             f"evaluator asked for {board_size}x{board_size}")
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if self.device.type == "cpu":
            keep_heap_mapped()
        int8_ok = int8_ok and isinstance(model, AlphaZeroNet)  # the only network int8 builds for
        self.precision = resolve_precision(precision, self.device, int8_ok)  # fp32, bf16 or int8
        self.model = model.to(self.device).eval()
        self.n = int(board_size)
        self.graph = None  # frozen TorchScript graph the CPU forward pass runs, if any
        if self.precision == "int8":
            if not isinstance(self.model, AlphaZeroNet):
                raise ValueError("precision int8 needs a nets.resnet.AlphaZeroNet")
            self.graph = int8_graph(self.model, self.n)
            if self.graph is None:
                logger.warning("int8 unavailable: running in float32")
                self.precision = "fp32"
        if (graph and self.device.type == "cpu" and self.precision in ("fp32", "bf16")
                and isinstance(self.model, AlphaZeroNet)):
            # only the engine's own network: its forward pass has no data-dependent Python,
            # so a trace is exact (any other module, a test's fake say, runs eagerly)
            self.graph = inference_graph(self.model, self.n, self.precision)
        self.random_symmetry = bool(random_symmetry)
        self.rng = np.random.default_rng(seed)  # symmetry stream, one per evaluated position
        self.calls = 0  # forward passes so far
        self.evaluated = 0  # positions sent through the network so far
        self.forward_s = 0.0  # seconds inside the forward passes
        self._cap = 0  # rows the buffers hold; they only grow, so steady batches allocate nothing
        self._scratch = new_board(self.n)  # board the leaf paths are replayed on

    @property
    def rng(self):
        """The generator of the random symmetries; setting it restarts the stream."""
        return self._rng

    @rng.setter
    def rng(self, rng):
        self._rng = rng
        self._syms = np.zeros(0, dtype=np.int64)  # symmetries drawn ahead (_symmetries)
        self._syms_at = 0  # the next one not used yet

    def _symmetries(self, m):
        """The next m symmetries of the stream, drawn 4096 at a time: one numpy call per
        forward pass cost about 50 µs in the self-play loop, where the tree work before it
        leaves numpy's code and data out of the cache."""
        if self._syms_at + m > len(self._syms):
            self._syms = self._rng.integers(0, 8, size=max(4096, m), dtype=np.int64)
            self._syms_at = 0
        i = self._syms_at
        self._syms_at = i + m
        return self._syms[i:i + m]

    # -- buffers ----------------------------------------------------------------------------
    def _buffers(self, rows):
        if rows > self._cap:
            self._cap = max(rows, 2 * self._cap)
            self._allocate(self._cap)

    def _allocate(self, cap):
        """(Re)create the per-row buffers for ``cap`` rows; subclasses add their own."""
        n, ww = self.n, (self.n + 2) ** 2
        self._stacks = np.zeros((cap, HISTORY, ww), dtype=np.int8)  # history stack of each row
        self._planes = np.zeros((cap, PLANES, n, n), dtype=np.float32)  # NCHW network input

    def _check_size(self, n):
        if n != self.n:
            raise ValueError(f"evaluator is for {self.n}x{self.n} boards, got a {n}x{n} position")

    # -- rows -------------------------------------------------------------------------------
    def _replay_leaves(self, tree, leaf, count, root_board, root_stack, out):
        """History stacks of ``count`` leaves of ``tree`` into out[:count] (one jitted call)."""
        leaf_stacks(tree[mcts.T_PARENT], tree[mcts.T_MOVE], leaf, count, root_board, root_stack,
                    self._scratch, out)

    def _outputs(self, planes):
        """(policy logits, value) tensors of planes float32[B, 17, N, N]."""
        if self.graph is not None:
            return self.graph(torch.from_numpy(planes))
        with torch.autocast(self.device.type, dtype=torch.bfloat16,
                            enabled=self.precision == "bf16"):
            x = torch.from_numpy(planes).to(self.device, non_blocking=True)
            return self.model(x)[:2]

    def forward(self, planes):
        """(probabilities float32[B, N*N+1], win probabilities float32[B]) of planes
        float32[B, 17, N, N], as the network sees them (no symmetry undone)."""
        t0 = time.perf_counter()
        with torch.inference_mode():
            logits, value = self._outputs(planes)
            probs = torch.softmax(logits.float(), dim=1).cpu().numpy()
            wins = ((value.float().reshape(-1) + 1.0) * 0.5).clamp_(0.0, 1.0).cpu().numpy()
        self.forward_s += time.perf_counter() - t0
        self.calls += 1
        self.evaluated += planes.shape[0]
        return probs, wins

    def answer_rows(self, stacks, to_move, rows, out_priors, out_values):
        """``_forward_rows`` for a caller that keeps its own history stacks (the batched
        loops' ``SearchRounds``): the network's buffers are sized first."""
        self._buffers(len(rows))
        self._forward_rows(stacks, to_move, rows, out_priors, out_values)

    def _forward_rows(self, stacks, to_move, rows, out_priors, out_values):
        """One forward pass over stacks[rows] (for to_move[rows]; rows int64), each row under
        its own symmetry: priors into out_priors[rows], win probabilities into
        out_values[rows]."""
        m = len(rows)
        if self.random_symmetry:
            syms = self._symmetries(m)
        else:
            syms = np.zeros(m, dtype=np.int64)
        planes = self._planes[:m]  # [m, 17, N, N]
        fill_planes_rows(stacks, to_move, rows, syms, self.n, planes)
        probs, wins = self.forward(planes)
        unsymmetrize_policy_to(probs, syms, rows, self.n, out_priors)
        out_values[rows] = wins


class NetEvaluator(StackNet):
    """Evaluator protocol of ``engine.search``: priors and values from a network, with an
    optional LRU cache of answers."""

    uses_value = True
    uses_rollout = False
    independent_samples = False  # the same leaf twice gives the same answer (up to symmetry)

    def __init__(self, model, board_size, device=None, random_symmetry=True, seed=0, cache_size=0,
                 precision="fp32", graph=True, int8_ok=False):
        super().__init__(model, board_size, device, random_symmetry, seed, precision, graph,
                         int8_ok)
        self.cache_size = int(cache_size)
        self.cache = OrderedDict()  # key -> (priors float32[N*N+1], win probability)
        self.hits = 0  # cache hits so far
        self._root_state = None  # the GameState the root stack belongs to
        self._root_stack = None  # history stack of the search root

    def _allocate(self, cap):
        super()._allocate(cap)
        self._keys = np.zeros(cap, dtype=np.int64)  # cache key of each row

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
        if len(todo) == 0:
            return
        self._forward_rows(stacks, to_move, todo, out_priors, out_values)
        if self.cache_size > 0:
            for i in todo.tolist():
                self.cache[int(keys[i])] = (out_priors[i].copy(), float(out_values[i]))
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
        self._replay_leaves(batch.tree, batch.leaf, k, batch.root_state.board, self._root_stack,
                            self._stacks)
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

