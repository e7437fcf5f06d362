"""Many games at once played by policy networks without search: the engine of AlphaGo Lee's
RL step (policy-gradient games against a pool of earlier policies) and of its value-net data.

``PolicyGames(n, count, komi)`` holds ``count`` games of size ``n`` on fast boards (simple ko)
stacked as a batch, plus the stone ages the "turns since" planes need. One Python step serves
every unfinished game: ``planes(rows)`` builds the 48/49 input planes of those games in one
jitted call, the caller runs its networks, ``choose`` samples one move per game from
``softmax(logits / temperature)`` over the *sensible* moves (legal and not filling an own eye,
the paper's sensibleness plane) and ``play`` plays them in one jitted call.

The policy net has no pass output: a player passes when no sensible move is left, so a game
ends when both sides run out of sensible moves (two passes in a row) or at the move cap
(3*N*N by default, which also stops rare long simple-ko cycles). Finished games are scored by
Tromp-Taylor area on the final board: with every sensible move played out, dead stones have
been captured, so area scoring gives the true winner.

The moves of every game are kept in ``moves`` / ``colors`` so a finished batch can be written
in the shard format of ``nets.sgf_data`` (``to_gameset``).
"""
import numpy as np
import torch
from numba import njit

from engine.board import (BLACK, M_PASSES, M_TOMOVE, PASS, WHITE, area_score, is_eye,
                          is_legal, new_board, point)
from engine.mcts import batch_board
from nets import lee_features
from nets.lee_features import AGE_NONE, play_aged


@njit(cache=True)
def _sensible(b, c, n, mask_row):
    """mask_row[a] = 1 for the sensible moves of ``c`` (legal, not an own eye); returns how
    many there are."""
    w = n + 2
    k = 0
    for r in range(n):
        for col in range(n):
            p = (r + 1) * w + col + 1
            ok = is_legal(b, p, c) and not is_eye(b, p, c)
            mask_row[r * n + col] = 1 if ok else 0
            k += 1 if ok else 0
    return k


@njit(cache=True)
def batch_sensible(boards, rows, n, mask):
    """mask uint8[len(rows), N*N] of sensible moves; returns int64[len(rows)] counts."""
    counts = np.zeros(rows.shape[0], dtype=np.int64)
    for k in range(rows.shape[0]):
        b = batch_board(boards, rows[k])
        counts[k] = _sensible(b, b[8][M_TOMOVE], n, mask[k])
    return counts


@njit(cache=True)
def batch_play(boards, ages, rows, points, moves, colors, length):
    """Play points[k] (padded point or PASS) in game rows[k] for its side to move and append it
    to that game's move record."""
    for k in range(rows.shape[0]):
        i = rows[k]
        b = batch_board(boards, i)
        c = b[8][M_TOMOVE]
        play_aged(b, ages[i], points[k], c)
        moves[i, length[i]] = points[k]
        colors[i, length[i]] = c
        length[i] += 1


class PolicyGames:
    """``count`` games of size ``n`` played in lock step by policy networks.

    ``rng`` (a ``torch.Generator``) draws every sampled move, so a seed fixes the games.
    """

    def __init__(self, n, count, komi=7.0, move_cap=None, seed=0):
        self.n = int(n)  # board size
        self.count = int(count)  # games in the batch
        self.komi = float(komi)  # komi for the final area score
        self.move_cap = int(move_cap) if move_cap else 3 * self.n * self.n  # moves before a game stops
        fresh = new_board(self.n)
        self.boards = tuple(np.tile(a, (self.count, 1)) for a in fresh)  # row i = game i
        self.ages = np.full((self.count, fresh[0].shape[0]), AGE_NONE, dtype=np.int32)  # stone ages
        self.moves = np.full((self.count, self.move_cap), PASS, dtype=np.int16)  # moves played
        self.colors = np.zeros((self.count, self.move_cap), dtype=np.int8)  # who played them
        self.length = np.zeros(self.count, dtype=np.int64)  # moves played per game
        self.done = np.zeros(self.count, dtype=bool)  # game over (two passes or the move cap)
        self.rng = torch.Generator().manual_seed(int(seed))

    # -- reading the games --------------------------------------------------------------
    def active(self):
        """Indices of the unfinished games, int64."""
        return np.flatnonzero(~self.done).astype(np.int64)

    def board(self, i):
        return batch_board(self.boards, int(i))

    def to_move(self, rows):
        """Colour to move in each game of ``rows``: int8 array."""
        return self.boards[8][rows, M_TOMOVE].astype(np.int8)

    def planes(self, rows, with_player=False):
        """Input planes float32[len(rows), 48 (+1 with_player), N, N] of those games."""
        c = lee_features.VALUE_PLANES if with_player else lee_features.LEE_PLANES
        out = np.zeros((len(rows), c, self.n, self.n), dtype=np.float32)
        lee_features.lee_planes_rows(self.boards, self.ages, np.asarray(rows, dtype=np.int64),
                                     with_player, out)
        return out

    def sensible(self, rows):
        """(mask uint8[len(rows), N*N], counts int64[len(rows)]) of sensible moves."""
        mask = np.zeros((len(rows), self.n * self.n), dtype=np.uint8)
        counts = batch_sensible(self.boards, np.asarray(rows, dtype=np.int64), self.n, mask)
        return mask, counts

    # -- moving -------------------------------------------------------------------------
    def choose(self, logits, mask, counts, temperature=1.0):
        """Sample one action per row from softmax(logits / temperature) restricted to the
        sensible moves; -1 (pass) where there is none. logits: tensor [R, N*N]."""
        actions = np.full(len(counts), -1, dtype=np.int64)
        has = counts > 0
        if has.any():
            m = torch.from_numpy(mask[has].astype(bool))
            lg = logits[torch.from_numpy(has)].float() / float(temperature)
            lg = lg.masked_fill(~m, float("-inf"))
            probs = torch.softmax(lg, dim=1)
            actions[has] = torch.multinomial(probs, 1, generator=self.rng)[:, 0].numpy()
        return actions

    def choose_uniform(self, mask, counts):
        """One uniformly random sensible move per row (-1: pass when there is none)."""
        actions = np.full(len(counts), -1, dtype=np.int64)
        for k in np.flatnonzero(counts > 0):
            legal = np.flatnonzero(mask[k])
            j = int(torch.randint(len(legal), (1,), generator=self.rng))
            actions[k] = legal[j]
        return actions

    def play(self, rows, actions):
        """Play action a (row*N+col, -1 = pass) in each game of ``rows`` and mark the games
        that ended."""
        rows = np.asarray(rows, dtype=np.int64)
        n = self.n
        pts = np.array([PASS if a < 0 else point(n, int(a) // n, int(a) % n) for a in actions],
                       dtype=np.int64)
        batch_play(self.boards, self.ages, rows, pts, self.moves, self.colors, self.length)
        ended = (self.boards[8][rows, M_PASSES] >= 2) | (self.length[rows] >= self.move_cap)
        self.done[rows[ended]] = True

    # -- results ------------------------------------------------------------------------
    def scores(self):
        """Black-minus-white area score (komi included) of every game: float64[count]."""
        return np.array([area_score(self.board(i), self.komi) for i in range(self.count)])

    def winners(self):
        """BLACK / WHITE / 0 (draw) per game."""
        s = self.scores()
        return np.where(s > 0, BLACK, np.where(s < 0, WHITE, 0)).astype(np.int8)

    def to_gameset(self, sources=None):
        """The finished games in the shard format (``nets.sgf_data.GameSet``)."""
        from nets.sgf_data import GameSet
        offsets = np.zeros(self.count + 1, dtype=np.int64)
        offsets[1:] = np.cumsum(self.length)
        moves = np.concatenate([self.moves[i, :self.length[i]] for i in range(self.count)])
        colors = np.concatenate([self.colors[i, :self.length[i]] for i in range(self.count)])
        if sources is None:
            sources = [f"policy-game-{i}" for i in range(self.count)]
        return GameSet(
            size=self.n, komi=np.full(self.count, self.komi, dtype=np.float32),
            winner=self.winners(), handicap=np.zeros(self.count, dtype=np.int8),
            offsets=offsets, moves=moves.astype(np.int16), colors=colors.astype(np.int8),
            setup_offsets=np.zeros(self.count + 1, dtype=np.int64),
            setup_points=np.zeros(0, dtype=np.int16), setup_colors=np.zeros(0, dtype=np.int8),
            source=np.array(sources, dtype=str))


def play_out(games, policies, temperature=1.0, device="cpu", record=None):
    """Play every game of ``games`` to the end.

    ``policies(rows, colors)`` returns, for the games ``rows`` to move with ``colors``, a list of
    ``(subset_mask, module)`` pairs saying which policy network plays each row (a module ``None``
    plays a uniformly random sensible move). ``record(rows, planes, mask, actions, module)``, when
    given, sees every network decision (the RL step keeps the learner's).
    """
    while True:
        rows = games.active()
        if len(rows) == 0:
            return
        planes = games.planes(rows)
        mask, counts = games.sensible(rows)
        actions = np.full(len(rows), -1, dtype=np.int64)
        for sel, module in policies(rows, games.to_move(rows)):
            if not sel.any():
                continue
            if module is None:
                actions[sel] = games.choose_uniform(mask[sel], counts[sel])
                continue
            with torch.no_grad():
                x = torch.from_numpy(planes[sel]).to(device)  # [R, 48, N, N]
                logits = module(x).cpu()  # [R, N*N]
            actions[sel] = games.choose(logits, mask[sel], counts[sel], temperature)
            if record is not None:
                record(rows[sel], planes[sel], mask[sel], actions[sel], module)
        games.play(rows, actions)
