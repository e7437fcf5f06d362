"""Int8 inference of the AlphaGo Zero network on the CPU (``precision="int8"``).

Post-training static quantization with PyTorch's FX graph mode: batch norm is folded into
the convolutions, convolution and linear weights become int8 (per output channel) and the
activations int8 with scales calibrated on sample positions; what has no int8 kernel (the
global-pooling bias, tanh) runs in float32 between a dequantize and a quantize. The result is
a frozen TorchScript graph with the interface of ``nets.evaluator.inference_graph``: float32
planes [B, 17, N, N] -> (policy logits [B, N*N+1], value [B]); the ownership head is left out.

Why: on a CPU with int8 dot-product instructions (AVX-512 VNNI, AMX) the int8 convolutions
are several times faster than float32 ones, most of all for the wider networks (measured in
docs/BENCHMARKS.md). The price is a small change in the outputs: with the shipped 9x9 network
(stage 6, step 13500), on 256 positions of random games, the policy moves by a KL divergence
of about 0.007 on average (0.04 at most), the win probability by about 0.013 (0.08 at most),
and the top move is the same in 96% of them (``tests/test_nets.py`` bounds these).

Calibration positions: ``calibration_planes`` plays seeded random games (uniform legal moves,
own eyes kept) and takes every few positions, so a quantized network is the same on every
run. A caller with real positions (self-play) may pass its own planes instead.
"""
import copy
import logging
import warnings

import numpy as np
import torch

logger = logging.getLogger("nets.quantize")


class _Traceable(torch.nn.Module):
    """(policy logits, value) of an AlphaZeroNet through ``outputs``: no input check and no
    ownership head, so FX can trace it."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        policy, value, _ = self.model.outputs(x, with_owner=False)
        return policy, value


def calibration_planes(board_size, positions=256, seed=0):
    """float32[positions, 17, N, N]: input planes of positions from seeded random games, about
    8 a game, spread over games of random lengths (side to move alternating)."""
    from engine.game import GameState
    from engine.player import RandomPlayer
    from nets.features import PLANES, fill_planes, history_stack

    n = int(board_size)
    rng = np.random.default_rng(seed)
    player = RandomPlayer(seed=seed)
    out = np.zeros((positions, PLANES, n, n), dtype=np.float32)
    k = 0
    while k < positions:
        state = GameState(n, komi=7.5)
        stop = int(rng.integers(1, n * n))  # game length before the last sample
        step = max(1, stop // 8)  # about 8 positions a game
        for move in range(stop):
            p = player.genmove(state, state.to_move, None)
            if p < 0:
                break
            state.play(state.to_move, p)
            if (move + 1) % step == 0 and k < positions:
                fill_planes(history_stack(state), state.to_move, n, out[k])
                k += 1
    return out


def int8_graph(model, board_size, planes=None):
    """A frozen int8 TorchScript graph of ``model`` (an ``AlphaZeroNet``), calibrated on
    ``planes`` (float32[B, 17, N, N]; ``calibration_planes`` when None). The model itself is
    left untouched. None, with a warning in the log, when this PyTorch cannot build it."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    if planes is None:
        planes = calibration_planes(board_size)
    x = torch.from_numpy(np.ascontiguousarray(planes, dtype=np.float32))
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            # FX quantization's and TorchScript's deprecation notices
            warnings.simplefilter("ignore")
            net = _Traceable(copy.deepcopy(model).cpu().float().eval()).eval()
            mapping = get_default_qconfig_mapping(torch.backends.quantized.engine)
            prepared = prepare_fx(net, mapping, example_inputs=(x[:8],))
            for i in range(0, x.shape[0], 64):
                prepared(x[i:i + 64])  # the observers record activation ranges
            quantized = convert_fx(prepared)
            graph = torch.jit.freeze(torch.jit.trace(quantized, x[:8], check_trace=False))
            graph(x[:8])  # the first calls pack the weights
            graph(x[:8])
    except Exception as e:  # no int8 backend, or an op FX cannot quantize
        logger.warning("int8 graph unavailable (%s: %s)", type(e).__name__,
                       str(e).splitlines()[0] if str(e) else "")
        return None
    return graph
