"""The AlphaGo Lee networks (Silver et al. 2016): the policy network and the value network.

Both are plain convolution stacks (no batch norm, no residual connections), shapes NCHW with
B = batch, P = input planes, k = ``filters``, N = ``board_size``, L = ``layers``::

    x              [B, P, N, N]   input planes (``nets.lee_features``: 48, or 49 with the
                                  colour-to-play plane the value network adds)
    conv 5x5       [B, k, N, N]   P -> k, zero padding 2, + ReLU
    L-2 conv 3x3   [B, k, N, N]   k -> k, zero padding 1, + ReLU each

    policy   conv 1x1  [B, 1, N, N]  k -> 1, no shared bias
             + bias    [B, N*N]      a learned bias per board point (the paper's "different bias
                                     for each position"): logits; softmax gives p(a|s)
    value    conv 1x1  [B, 1, N, N]  k -> 1, + ReLU
             fc        [B, hidden]   N*N -> ``hidden`` (paper: 256), + ReLU
             fc        [B]           hidden -> 1, tanh: the expected outcome in [-1, 1] for the
                                     player to move

The paper's nets are ``l13k192``: 13 convolution layers counting the 1x1 output layer (one 5x5,
eleven 3x3, one 1x1), 192 filters; the value net puts its fully connected layers after the same
13 convolutions. ``PolicyConfig.from_name("l13k192", board_size=19)`` reads such a name; ``l3k8``
is a tiny net for tests.

Passing: the policy has N*N outputs, one per point, and no pass. A player built on it passes
when no *sensible* move is left (legal and not filling its own eye, the rule of
``selfplay.lee_games``); a search adds pass as an extra move of its own.

Initialisation: He-normal weights (fan-in, ReLU gain) and zero biases, so that activations keep
their scale through a deep stack without normalisation (PyTorch's default init shrinks them
by about 6x in variance per layer: a 13-layer net would start with vanishing gradients); the
policy's output layer starts at zero, i.e. uniform over the points.

Checkpoints go through ``nets.checkpoint`` (atomic write, ``weights_only`` read); the stored
``net_config`` dict carries a ``kind`` ("lee-policy" / "lee-value") so a file of the wrong kind
is refused by name. ``save_policy`` / ``save_network`` write one, ``load_policy(path)`` /
``load_value(path)`` give a player an eval-mode network and its config, ``read_policy_payload``
the raw dict (weights, optimizer state, extra) for a trainer that resumes.
"""
import re
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.config import Config, check, from_fields
from nets.checkpoint import CheckpointError, build_from_payload, read_payload, save_checkpoint

POLICY_KIND = "lee-policy"  # net_config["kind"] of a policy network checkpoint
VALUE_KIND = "lee-value"  # net_config["kind"] of a value network checkpoint
_NAME = re.compile(r"l(\d+)k(\d+)")


@dataclass(frozen=True)
class PolicyConfig(Config):
    """Shape of one policy network (the SL and the RL policy share it)."""
    board_size: int = 19  # N: board the network plays on (the per-point bias depends on it)
    layers: int = 13  # convolution layers, the 1x1 output layer included (paper: 13)
    filters: int = 192  # k: filters of every hidden convolution (paper: 192; 128..384 tried)
    in_planes: int = 48  # input planes (paper: 48)

    KIND = POLICY_KIND  # class constant, not a field: the kind stored in checkpoints

    def __post_init__(self):
        check(type(self).__name__, [
            (2 <= self.board_size <= 19, f"board_size must be 2..19, got {self.board_size}"),
            (self.layers >= 2, f"layers must be at least 2 (the 5x5 and the 1x1 layer), "
                               f"got {self.layers}"),
            (self.filters >= 1, f"filters must be positive, got {self.filters}"),
            (self.in_planes >= 1, f"in_planes must be positive, got {self.in_planes}"),
        ])

    @property
    def name(self):
        """Size name ``l<layers>k<filters>`` (``from_name`` reads it back)."""
        return f"l{self.layers}k{self.filters}"

    @classmethod
    def from_name(cls, name, board_size=19, **options):
        """``"l13k192"`` (13 layers, 192 filters); other fields from ``options``."""
        m = _NAME.fullmatch(str(name).strip().lower())
        if not m:
            raise ValueError(f"network size {name!r}: expected l<layers>k<filters>, "
                             f"e.g. l13k192 (the paper's) or l3k8 (tiny)")
        return cls(board_size=board_size, layers=int(m.group(1)), filters=int(m.group(2)),
                   **options)

    def to_dict(self):
        return {"kind": self.KIND, **super().to_dict()}

    @classmethod
    def from_dict(cls, d):
        """Inverse of ``to_dict``; another kind or unknown keys are an error."""
        d = dict(d)
        kind = d.pop("kind", None)
        if kind != cls.KIND:
            raise ValueError(f"a {kind or 'AlphaGo Zero'} network config, expected {cls.KIND}")
        return from_fields(cls, d, f"{cls.KIND} config")


@dataclass(frozen=True)
class ValueConfig(PolicyConfig):
    """Shape of one value network: the policy's convolutions on 49 planes, then two FC layers."""
    in_planes: int = 49  # the 48 policy planes + the colour to play (paper: 49)
    hidden: int = 256  # units of the hidden fully connected layer (paper: 256)

    KIND = VALUE_KIND

    def __post_init__(self):
        super().__post_init__()
        check(type(self).__name__,
              [(self.hidden >= 1, f"hidden must be positive, got {self.hidden}")])


def _he_init(conv):
    nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
    nn.init.zeros_(conv.bias)
    return conv


class ConvStack(nn.Module):
    """[B, P, N, N] -> [B, k, N, N]: conv 5x5 + ReLU, then ``layers - 2`` conv 3x3 + ReLU."""

    def __init__(self, config):
        super().__init__()
        k = config.filters
        convs = [_he_init(nn.Conv2d(config.in_planes, k, 5, padding=2))]
        convs += [_he_init(nn.Conv2d(k, k, 3, padding=1)) for _ in range(config.layers - 2)]
        self.convs = nn.ModuleList(convs)

    def forward(self, x):
        for conv in self.convs:
            x = F.relu(conv(x))  # [B, k, N, N]
        return x


def _check_input(config, x):
    n = config.board_size
    if x.dim() != 4 or tuple(x.shape[1:]) != (config.in_planes, n, n):
        raise ValueError(f"{config.KIND} {config.name}: expected input [B, {config.in_planes}, "
                         f"{n}, {n}], got {list(x.shape)}")


class PolicyNet(nn.Module):
    """forward(x[B, in_planes, N, N]) -> logits[B, N*N] (row-major points, action = row*N+col,
    no pass); ``softmax(logits)`` is p(a|s) for the player to move."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        n = config.board_size
        self.stack = ConvStack(config)
        self.head = nn.Conv2d(config.filters, 1, 1, bias=False)
        nn.init.zeros_(self.head.weight)
        self.point_bias = nn.Parameter(torch.zeros(n * n))  # [N*N]: one bias per point

    def forward(self, x):
        _check_input(self.config, x)
        h = self.stack(x)  # [B, k, N, N]
        return self.head(h).flatten(1) + self.point_bias  # [B, N*N]


class ValueNet(nn.Module):
    """forward(x[B, in_planes, N, N]) -> value[B] in [-1, 1]: the expected outcome for the
    player to move (+1 a win)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        n = config.board_size
        self.stack = ConvStack(config)
        self.head = _he_init(nn.Conv2d(config.filters, 1, 1))
        self.fc1 = nn.Linear(n * n, config.hidden)
        self.fc2 = nn.Linear(config.hidden, 1)
        nn.init.kaiming_normal_(self.fc1.weight, nonlinearity="relu")
        nn.init.zeros_(self.fc1.bias)

    def forward(self, x):
        _check_input(self.config, x)
        h = self.stack(x)  # [B, k, N, N]
        h = F.relu(self.head(h)).flatten(1)  # [B, N*N]
        h = F.relu(self.fc1(h))  # [B, hidden]
        return torch.tanh(self.fc2(h)).squeeze(1)  # [B]


def build(config):
    """A freshly initialised network for ``config`` (PolicyConfig or ValueConfig); seed torch
    first for a reproducible one."""
    if isinstance(config, ValueConfig):
        return ValueNet(config)
    if isinstance(config, PolicyConfig):
        return PolicyNet(config)
    raise TypeError(f"not a Lee network config: {type(config).__name__}")


def config_from_dict(d):
    """PolicyConfig or ValueConfig from a checkpoint's ``net_config`` dict, by its ``kind``."""
    kind = d.get("kind") if isinstance(d, dict) else None
    for cls in (PolicyConfig, ValueConfig):
        if kind == cls.KIND:
            return cls.from_dict(d)
    raise ValueError(f"not an AlphaGo Lee network (kind {kind!r})")


def save_network(path, model, config, step, optimizer=None, extra=None):
    """Write a Lee network (policy or value) with its config, ``step`` and optionally the
    optimizer state and ``extra`` plain data to ``path`` atomically (``nets.checkpoint``)."""
    save_checkpoint(path, model, config, step, optimizer=optimizer, extra=extra)


def save_policy(path, model, config, step, optimizer=None, extra=None):
    """``save_network`` for a policy network (SL or RL)."""
    if not isinstance(config, PolicyConfig) or isinstance(config, ValueConfig):
        raise TypeError(f"save_policy: a PolicyConfig is needed, got {type(config).__name__}")
    save_network(path, model, config, step, optimizer, extra)


def read_network_payload(path, kind=None, device="cpu"):
    """The checkpoint dict of a Lee network (``model``, ``optimizer``, ``step``, ``extra``, ...),
    checked for format and, when given, ``kind``; no network is built."""
    payload = read_payload(path, device)
    d = payload["net_config"]
    found = d.get("kind", "AlphaGo Zero") if isinstance(d, dict) else None
    if kind is not None and found != kind:
        article = "an" if str(found)[:1] in "AEIOUaeiou" else "a"
        raise CheckpointError(f"checkpoint {path}: {article} {found} network, expected a {kind} "
                              f"network")
    return payload


def read_policy_payload(path, device="cpu"):
    """``read_network_payload`` insisting on a policy network."""
    return read_network_payload(path, POLICY_KIND, device)


def load_network(path, kind=None, board_size=None, device="cpu"):
    """Rebuild the Lee network saved at ``path`` -> (model in eval mode, config, step, payload).
    ``kind``: POLICY_KIND or VALUE_KIND to insist on; ``board_size``: the size the caller plays
    on. Every way of failing is a ``CheckpointError`` naming the file."""
    payload = read_network_payload(path, kind, device)
    model, config = build_from_payload(path, payload, board_size, device, config_from_dict, build)
    return model, config, int(payload["step"]), payload


def load_policy(path, board_size=None, device="cpu"):
    """(PolicyNet in eval mode on ``device``, PolicyConfig) from a policy checkpoint (SL or
    RL)."""
    model, config, _, _ = load_network(path, POLICY_KIND, board_size, device)
    return model, config


def load_value(path, board_size=None, device="cpu"):
    """(ValueNet in eval mode on ``device``, ValueConfig) from a value network checkpoint."""
    model, config, _, _ = load_network(path, VALUE_KIND, board_size, device)
    return model, config


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())
