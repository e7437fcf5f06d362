"""The AlphaGo Zero dual-headed residual network (PyTorch).

Layout (shapes NCHW, B = batch, C = ``channels``, N = ``board_size``)::

    x            [B, 17, N, N]   input planes (``nets.features``)
    stem         [B, C, N, N]    conv 3x3 (17 -> C) + BN + ReLU
    tower        [B, C, N, N]    ``blocks`` residual blocks of one ``block_kind``
    policy head  [B, 2, N, N]    conv 1x1 (C -> 2) + BN + ReLU
                 [B, N*N+1]      fully connected -> logits over actions (row-major, N*N = pass)
    value head   [B, 1, N, N]    conv 1x1 (C -> 1) + BN + ReLU
                 [B, hidden]     fully connected (N*N -> value_hidden) + ReLU
                 [B]             fully connected (value_hidden -> 1) + tanh: value in [-1, 1]
                                 for the side to move
    owner head   [B, N*N]        optional: conv 1x1 (C -> 1) + tanh; +1 = the point ends up the
                                 side to move's, -1 = the opponent's

Block kinds (every block maps [B, C, N, N] -> [B, C, N, N]):

- ``classic``: the paper's block, conv-BN-ReLU-conv-BN, add the input, ReLU.
- ``preact``: pre-activation (He et al. 2016), BN-ReLU-conv-BN-ReLU-conv, add the input; the
  tower then ends with BN + ReLU so the heads see the same kind of activations.
- ``bottleneck``: conv 1x1 (C -> C/2)-BN-ReLU, conv 3x3 (C/2 -> C/2)-BN-ReLU, conv 1x1
  (C/2 -> C)-BN, add, ReLU: fewer multiply-adds per block.
- ``wide``: the classic block with a 2C-channel middle layer.

Global pooling (``global_pooling=True``, KataGo-style): in every third block, counted back from the
last one (so the last block always has it), the activations after the block's first layer
[B, C', N, N] are averaged and max-pooled over the board -> [B, 2C'] -> fully connected -> a
per-channel bias [B, C', 1, 1] added back: every point sees whole-board context in one block.

``NetConfig`` describes a network completely and is stored in checkpoints as a plain dict
(``to_dict`` / ``from_dict``). Named sizes: ``NetConfig.from_name("b6c64", board_size=9)`` is 6
blocks of 64 channels; ``"tiny"`` is b1c8, for tests.
"""
import re
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.config import Config, check

BLOCK_KINDS = ("classic", "preact", "bottleneck", "wide")
NAMED_SIZES = {"tiny": (1, 8)}  # names that are not of the form b<blocks>c<channels>


@dataclass(frozen=True)
class NetConfig(Config):
    """Shape of one dual-headed residual network."""
    board_size: int = 19  # N: the board the network plays on (input and policy sizes depend on it)
    in_planes: int = 17  # input feature planes (AlphaGo Zero: 8 own + 8 opponent + colour)
    blocks: int = 6  # residual blocks in the tower (AlphaGo Zero: 19 or 39)
    channels: int = 64  # filters of every tower convolution (AlphaGo Zero: 256)
    block_kind: str = "classic"  # one of BLOCK_KINDS
    value_hidden: int = 256  # units of the value head's hidden layer (AlphaGo Zero: 256)
    ownership: bool = False  # add the ownership head (final owner of each point)
    global_pooling: bool = False  # add global-pooling biases in every third block

    WHAT = "network config"  # class constant, not a field: "unknown network config fields"

    def __post_init__(self):
        check(type(self).__name__, [
            (2 <= self.board_size <= 19, f"board_size must be 2..19, got {self.board_size}"),
            (self.in_planes >= 1, "in_planes must be positive"),
            (self.blocks >= 0, "blocks must not be negative"),
            (self.channels >= 2, "channels must be at least 2"),
            (self.block_kind in BLOCK_KINDS,
             f"block_kind must be one of {BLOCK_KINDS}, got {self.block_kind!r}"),
            (self.value_hidden >= 1, "value_hidden must be positive"),
        ])

    @property
    def name(self):
        """Size name, ``b<blocks>c<channels>`` (``from_name`` reads it back)."""
        return f"b{self.blocks}c{self.channels}"

    @classmethod
    def from_name(cls, name, board_size=19, **options):
        """``"b6c64"`` (6 blocks, 64 channels) or ``"tiny"``; other fields from ``options``."""
        key = name.strip().lower()
        if key in NAMED_SIZES:
            blocks, channels = NAMED_SIZES[key]
        else:
            m = re.fullmatch(r"b(\d+)c(\d+)", key)
            if not m:
                raise ValueError(f"network size {name!r}: expected b<blocks>c<channels> "
                                 f"(e.g. b6c64) or one of {sorted(NAMED_SIZES)}")
            blocks, channels = int(m.group(1)), int(m.group(2))
        return cls(board_size=board_size, blocks=blocks, channels=channels, **options)


def _conv_bn(cin, cout, k):
    """Convolution (same padding, no bias: BN follows) and its batch norm."""
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout)


class GlobalPoolBias(nn.Module):
    """[B, C, N, N] -> the same plus a per-channel bias from the board's mean and max. Without
    gradients (inference) the bias is added to the input in place: every block passes it an
    intermediate of its own."""

    def __init__(self, c):
        super().__init__()
        self.fc = nn.Linear(2 * c, c)

    def forward(self, x):
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)  # [B, 2C]
        bias = self.fc(pooled)[:, :, None, None]  # [B, C, 1, 1]
        if self.training or torch.is_grad_enabled():
            return x + bias  # [B, C, N, N]
        # inference: x is the block's own intermediate (in the int8 graph, a fresh float32
        # copy), so adding in place saves a pass over memory, a tenth of the int8 forward
        return x.add_(bias)


class ClassicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN + input, ReLU; ``mid`` channels in the middle (2C for ``wide``)."""

    def __init__(self, c, mid, gpool):
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(c, mid, 3)
        self.conv2, self.bn2 = _conv_bn(mid, c, 3)
        self.gpool = GlobalPoolBias(mid) if gpool else None

    def forward(self, x):  # x [B, C, N, N]
        y = F.relu(self.bn1(self.conv1(x)))  # [B, mid, N, N]
        if self.gpool is not None:
            y = self.gpool(y)
        y = self.bn2(self.conv2(y))  # [B, C, N, N]
        return F.relu(x + y)


class PreactBlock(nn.Module):
    """BN-ReLU-conv-BN-ReLU-conv + input (no activation after the add)."""

    def __init__(self, c, gpool):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c)
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.gpool = GlobalPoolBias(c) if gpool else None

    def forward(self, x):  # x [B, C, N, N]
        y = self.conv1(F.relu(self.bn1(x)))  # [B, C, N, N]
        y = F.relu(self.bn2(y))
        if self.gpool is not None:
            y = self.gpool(y)
        return x + self.conv2(y)  # [B, C, N, N]


class BottleneckBlock(nn.Module):
    """1x1 (C -> C/2), 3x3 (C/2 -> C/2), 1x1 (C/2 -> C), each with BN; + input, ReLU."""

    def __init__(self, c, gpool):
        super().__init__()
        m = max(1, c // 2)
        self.conv1, self.bn1 = _conv_bn(c, m, 1)
        self.conv2, self.bn2 = _conv_bn(m, m, 3)
        self.conv3, self.bn3 = _conv_bn(m, c, 1)
        self.gpool = GlobalPoolBias(m) if gpool else None

    def forward(self, x):  # x [B, C, N, N]
        y = F.relu(self.bn1(self.conv1(x)))  # [B, C/2, N, N]
        if self.gpool is not None:
            y = self.gpool(y)
        y = F.relu(self.bn2(self.conv2(y)))  # [B, C/2, N, N]
        y = self.bn3(self.conv3(y))  # [B, C, N, N]
        return F.relu(x + y)


def _make_block(cfg, gpool):
    c = cfg.channels
    if cfg.block_kind == "classic":
        return ClassicBlock(c, c, gpool)
    if cfg.block_kind == "wide":
        return ClassicBlock(c, 2 * c, gpool)
    if cfg.block_kind == "preact":
        return PreactBlock(c, gpool)
    return BottleneckBlock(c, gpool)


class AlphaZeroNet(nn.Module):
    """forward(x[B, in_planes, N, N]) -> (policy_logits[B, N*N+1], value[B] in [-1, 1],
    ownership[B, N*N] in [-1, 1] or None). Value and ownership are from the side to move's view."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        n, c = config.board_size, config.channels
        self.stem_conv, self.stem_bn = _conv_bn(config.in_planes, c, 3)
        last = config.blocks - 1
        self.tower = nn.Sequential(*[
            _make_block(config, config.global_pooling and (last - i) % 3 == 0)
            for i in range(config.blocks)])
        # pre-activation blocks leave their output un-normalised: one BN + ReLU before the heads
        self.tower_bn = nn.BatchNorm2d(c) if config.block_kind == "preact" else None
        self.policy_conv, self.policy_bn = _conv_bn(c, 2, 1)
        self.policy_fc = nn.Linear(2 * n * n, n * n + 1)
        self.value_conv, self.value_bn = _conv_bn(c, 1, 1)
        self.value_fc1 = nn.Linear(n * n, config.value_hidden)
        self.value_fc2 = nn.Linear(config.value_hidden, 1)
        self.owner_conv = nn.Conv2d(c, 1, 1) if config.ownership else None

    def forward(self, x):
        n = self.config.board_size
        if x.dim() != 4 or x.shape[1:] != (self.config.in_planes, n, n):
            raise ValueError(f"expected input [B, {self.config.in_planes}, {n}, {n}], "
                             f"got {list(x.shape)}")
        return self.outputs(x)

    def outputs(self, x, with_owner=True):
        """``forward`` without the input check (so that it traces symbolically, as
        ``nets.quantize`` needs); ``with_owner=False`` leaves the ownership head out."""
        h = F.relu(self.stem_bn(self.stem_conv(x)))  # [B, C, N, N]
        h = self.tower(h)  # [B, C, N, N]
        if self.tower_bn is not None:
            h = F.relu(self.tower_bn(h))
        p = F.relu(self.policy_bn(self.policy_conv(h)))  # [B, 2, N, N]
        policy = self.policy_fc(p.flatten(1))  # [B, N*N+1]
        v = F.relu(self.value_bn(self.value_conv(h)))  # [B, 1, N, N]
        v = F.relu(self.value_fc1(v.flatten(1)))  # [B, value_hidden]
        value = torch.tanh(self.value_fc2(v)).squeeze(1)  # [B]
        owner = None
        if self.owner_conv is not None and with_owner:
            owner = torch.tanh(self.owner_conv(h)).flatten(1)  # [B, N*N]
        return policy, value, owner


def build_net(config):
    """A freshly initialised network for ``config`` (a NetConfig)."""
    return AlphaZeroNet(config)


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())
