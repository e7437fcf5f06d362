"""Replay window: training positions sampled from the most recent self-play games.

Self-play writes one ``games/<name>.npz`` per finished game (arrays ``planes`` uint8[T, 17, N, N],
``policy`` float32[T, N*N+1], ``z`` float32[T], ``to_move`` int8[T], ``full_search`` bool[T],
``ownership`` int8[N*N] with +1 black, plus scalars ``size``, ``komi``, ``result``, ``resigned``,
``network_step``). ``ReplayWindow`` keeps the newest ``window`` readable games of a directory:

- ``refresh()`` lists ``*.npz`` (a game still being written has a temporary ``.tmp`` name, see
  ``engine.atomic``, and is never read), orders them by (mtime, name) and loads the newest ones
  not loaded yet. A file that cannot be read or does not match the format is skipped with a
  warning and counted in ``skipped``; it is not retried until it changes (mtime or size), so one
  bad file warns once. Games that fall out of the window are dropped.
- ``sample(batch_size, rng)`` draws positions uniformly over all positions in the window (with
  replacement), each under a uniformly random one of the 8 board symmetries
  (``nets.features.sym_rowcol``), applied to the planes, the policy target and the ownership
  target alike, in one jitted gather per batch.

The window keeps positions as flat arrays (one row per position, all games concatenated)::

    planes     uint8[P, 17, N, N]   network input, canonical orientation
    policy     float32[P, N*N+1]    MCTS visit distribution (target pi)
    z          float32[P]           outcome for the side to move
    full       bool[P]              searched with the full budget: usable as a policy target
    owner      int8[P, N*N]         final owner, +1 side to move's, -1 the opponent's

A ``Batch`` carries float32 arrays ready for the network, plus ``policy_mask`` (1.0 where the
policy target is usable) and the rows / symmetries drawn (for tests and debugging).
"""
import logging
import os
from dataclasses import dataclass

import numpy as np
from numba import njit

from engine import atomic
from nets.features import PLANES, sym_rowcol

logger = logging.getLogger(__name__)

REQUIRED = ("planes", "policy", "z", "to_move", "full_search", "ownership")


class ReplayError(ValueError):
    """A game file that does not match the sample format; the message says why."""


@dataclass
class Batch:
    """One training batch (B rows), already under the drawn symmetries."""
    planes: np.ndarray  # float32[B, 17, N, N] network input
    policy: np.ndarray  # float32[B, N*N+1] target pi (rows with policy_mask 0 are not targets)
    z: np.ndarray  # float32[B] game outcome for the side to move
    policy_mask: np.ndarray  # float32[B] 1.0 where pi came from a full search
    ownership: np.ndarray  # float32[B, N*N] final owner, +1 side to move's
    rows: np.ndarray  # int64[B] positions drawn (index into the window)
    symmetries: np.ndarray  # int64[B] symmetry applied to each row (nets.features numbering)


@dataclass
class _Game:
    """Arrays of one game file, owner already turned to the side to move's view."""
    key: tuple  # (mtime_ns, size): reload when the file changes
    planes: np.ndarray  # uint8[T, 17, N, N]
    policy: np.ndarray  # float32[T, N*N+1]
    z: np.ndarray  # float32[T]
    full: np.ndarray  # bool[T]
    owner: np.ndarray  # int8[T, N*N]


def load_game(path, board_size):
    """Read and check one sample file -> _Game; any problem is a ReplayError."""
    try:
        st = os.stat(path)
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in REQUIRED if k not in f.files]
            if missing:
                raise ReplayError(f"missing arrays {missing}")
            d = {k: np.asarray(f[k]) for k in REQUIRED}
            size = int(f["size"]) if "size" in f.files else board_size
    except ReplayError:
        raise
    except Exception as e:  # truncated zip, not a zip, bad header, unreadable, ...
        raise ReplayError(f"unreadable ({type(e).__name__}: {e})") from None
    n = board_size
    if size != n:
        raise ReplayError(f"board size {size}, the window is for {n}x{n}")
    planes = d["planes"]
    if planes.ndim != 4 or planes.shape[1:] != (PLANES, n, n) or planes.shape[0] < 1:
        raise ReplayError(f"planes shape {planes.shape}, expected [T>=1, {PLANES}, {n}, {n}]")
    t = planes.shape[0]
    shapes = {"policy": (t, n * n + 1), "z": (t,), "to_move": (t,), "full_search": (t,),
              "ownership": (n * n,)}
    for k, shape in shapes.items():
        if d[k].shape != shape:
            raise ReplayError(f"{k} shape {d[k].shape}, expected {shape}")
    policy = d["policy"].astype(np.float32)
    z = d["z"].astype(np.float32)
    if not (np.all(np.isfinite(policy)) and np.all(np.isfinite(z))):
        raise ReplayError("policy or z is not finite")
    to_move = d["to_move"].astype(np.int64)
    if not np.all((to_move == 1) | (to_move == 2)):
        raise ReplayError("to_move must be 1 (black) or 2 (white)")
    sign = np.where(to_move == 1, 1, -1).astype(np.int8)  # black's view -> side to move's
    owner = (sign[:, None] * d["ownership"].astype(np.int8)[None, :]).astype(np.int8)
    return _Game(key=(st.st_mtime_ns, st.st_size), planes=planes.astype(np.uint8, copy=False),
                 policy=policy, z=z, full=d["full_search"].astype(bool), owner=owner)


@njit(cache=True)
def gather_batch(planes, policy, owner, rows, syms, n, out_planes, out_policy, out_owner):
    """out_*[i] = row rows[i] of planes / policy / owner under symmetry syms[i]."""
    nn_ = n * n
    for i in range(rows.shape[0]):
        j = rows[i]
        k = syms[i]
        for r in range(n):
            for c in range(n):
                r2, c2 = sym_rowcol(k, n, r, c)
                for ch in range(planes.shape[1]):
                    out_planes[i, ch, r2, c2] = planes[j, ch, r, c]
                out_policy[i, r2 * n + c2] = policy[j, r * n + c]
                out_owner[i, r2 * n + c2] = owner[j, r * n + c]
        out_policy[i, nn_] = policy[j, nn_]  # pass has no point: it never moves


class ReplayWindow:
    """The newest ``window`` readable games of ``games_dir`` on ``board_size`` boards."""

    def __init__(self, games_dir, window, board_size):
        if window < 1:
            raise ValueError(f"replay window must hold at least one game, got {window}")
        self.games_dir = os.fspath(games_dir)
        self.window = int(window)
        self.board_size = int(board_size)
        self.skipped = 0  # bad files warned about so far (each distinct bad version once)
        self._games = {}  # name -> _Game, the games in the window
        self._bad = {}  # name -> (mtime_ns, size) of a bad file: not retried until it changes
        self._order = []  # names in the window, oldest first
        self._empty()

    def _empty(self):
        n = self.board_size
        self.planes = np.zeros((0, PLANES, n, n), np.uint8)
        self.policy = np.zeros((0, n * n + 1), np.float32)
        self.z = np.zeros(0, np.float32)
        self.full = np.zeros(0, bool)
        self.owner = np.zeros((0, n * n), np.int8)

    @property
    def games(self):
        """Names of the games in the window, oldest first."""
        return list(self._order)

    @property
    def positions(self):
        return int(self.z.shape[0])

    def __len__(self):
        return self.positions

    def refresh(self):
        """Pick up new games and drop ones that left the window -> number of games loaded now."""
        try:
            entries = [e for e in os.scandir(self.games_dir)
                       if e.name.endswith(".npz") and e.is_file()]
        except FileNotFoundError:
            entries = []
        files = []
        for e in entries:
            try:
                st = e.stat()
            except FileNotFoundError:  # removed while listing
                continue
            files.append((st.st_mtime_ns, e.name, st.st_size))
        files.sort()
        chosen, loaded = [], 0
        for mtime, name, size in reversed(files):
            if len(chosen) == self.window:
                break
            key = (mtime, size)
            game = self._games.get(name)
            if game is not None and game.key == key:
                chosen.append((name, game))
                continue
            if self._bad.get(name) == key:
                continue
            try:
                game = load_game(os.path.join(self.games_dir, name), self.board_size)
            except ReplayError as e:
                self._bad[name] = key
                self.skipped += 1
                logger.warning("replay: skipping %s: %s (%d bad files so far)",
                               os.path.join(self.games_dir, name), e, self.skipped)
                continue
            chosen.append((name, game))
            loaded += 1
        chosen.reverse()
        order = [name for name, _ in chosen]
        if order != self._order or loaded:
            self._games = dict(chosen)
            self._order = order
            self._concat()
        return loaded

    def _concat(self):
        games = [self._games[name] for name in self._order]
        if not games:
            self._empty()
            return
        self.planes = np.concatenate([g.planes for g in games])
        self.policy = np.concatenate([g.policy for g in games])
        self.z = np.concatenate([g.z for g in games])
        self.full = np.concatenate([g.full for g in games])
        self.owner = np.concatenate([g.owner for g in games])

    def sample(self, batch_size, rng, rows=None, symmetries=None):
        """A Batch of ``batch_size`` uniform positions under uniform random symmetries drawn
        from ``rng`` (a numpy Generator); ``rows`` / ``symmetries`` fix them instead."""
        if self.positions == 0:
            raise ValueError(f"replay window over {self.games_dir} holds no positions "
                             f"(no readable games yet)")
        if rows is None:
            rows = rng.integers(0, self.positions, size=batch_size)
        if symmetries is None:
            symmetries = rng.integers(0, 8, size=len(rows))
        rows = np.asarray(rows, np.int64)
        symmetries = np.asarray(symmetries, np.int64)
        n, b = self.board_size, len(rows)
        planes = np.empty((b, PLANES, n, n), np.float32)
        policy = np.empty((b, n * n + 1), np.float32)
        owner = np.empty((b, n * n), np.float32)
        gather_batch(self.planes, self.policy, self.owner, rows, symmetries, n,
                     planes, policy, owner)
        return Batch(planes=planes, policy=policy, z=self.z[rows],
                     policy_mask=self.full[rows].astype(np.float32), ownership=owner,
                     rows=rows, symmetries=symmetries)


def write_game(path, planes, policy, z, to_move, full_search, ownership, komi=7.5,
               result="?", resigned=False, network_step=0):
    """Write one sample file in the self-play format, atomically (``engine.atomic``): for tools
    and tests that make games outside self-play."""
    planes = np.asarray(planes, np.uint8)
    with atomic.atomic_file(path, "wb") as f:
        np.savez_compressed(f, planes=planes, policy=np.asarray(policy, np.float32),
                            z=np.asarray(z, np.float32), to_move=np.asarray(to_move, np.int8),
                            full_search=np.asarray(full_search, bool),
                            ownership=np.asarray(ownership, np.int8), size=planes.shape[-1],
                            komi=float(komi), result=str(result), resigned=bool(resigned),
                            network_step=int(network_step))


__all__ = ["Batch", "ReplayError", "ReplayWindow", "gather_batch", "load_game", "write_game"]
