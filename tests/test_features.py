"""Input planes, history stacks along tree paths, symmetries and cache keys (nets.features)."""
import numpy as np
import pytest

from engine import mcts
from engine.board import BLACK, PASS, WHITE, copy_board, point
from engine.coords import parse_vertex
from engine.game import GameState
from engine.player import Budget
from engine.search import MCTSPlayer, SearchConfig, UniformEvaluator
from nets.features import (HISTORY, INVERSE, PLANES, apply_symmetry_planes, fill_planes_rows,
                           apply_symmetry_policy, fill_planes, fill_planes_batch, history_stack,
                           inverse_symmetry_planes, inverse_symmetry_policy, leaf_planes,
                           leaf_stacks, path_stack, stack_keys, unsymmetrize_policy_rows,
                           unsymmetrize_policy_to)


def play_game(n, moves, state=None):
    """Play GTP vertices alternately, black first (or continue ``state``)."""
    g = state or GameState(n, komi=7.5)
    for v in moves:
        g.play(g.to_move, parse_vertex(v, n))
    return g


def planes_of(g):
    out = np.zeros((PLANES, g.size, g.size), dtype=np.float32)
    fill_planes(history_stack(g), g.to_move, g.size, out)
    return out


def cell(n, vertex):
    """(row, col) in plane coordinates (row 0 = top) of a GTP vertex."""
    p = parse_vertex(vertex, n)
    w = n + 2
    return p // w - 1, p % w - 1


def test_planes_of_a_short_game():
    # black D4, white E5, black C3, white pass: black to move after 4 moves
    g = play_game(9, ["D4", "E5", "C3", "pass"])
    assert g.to_move == BLACK
    x = planes_of(g)
    d4, e5, c3 = cell(9, "D4"), cell(9, "E5"), cell(9, "C3")
    # side to move (black): D4 present at t..t-3 (it was move 1, so absent at t-4 = start)
    assert [x[t][d4] for t in range(8)] == [1, 1, 1, 1, 0, 0, 0, 0]
    # C3 was move 3: present at t (after the pass) and t-1, not at t-2
    assert [x[t][c3] for t in range(8)] == [1, 1, 0, 0, 0, 0, 0, 0]
    # opponent (white) E5, move 2: present at t, t-1, t-2
    assert [x[8 + t][e5] for t in range(8)] == [1, 1, 1, 0, 0, 0, 0, 0]
    assert x[8:16][:, d4[0], d4[1]].sum() == 0 and x[0:8][:, e5[0], e5[1]].sum() == 0
    assert np.all(x[16] == 1.0)  # black to move
    # every plane holds only the stones named above
    assert x[0].sum() == 2 and x[8].sum() == 1 and x[:16].sum() == 4 + 2 + 3

    g.play(BLACK, parse_vertex("G7", 9))
    y = planes_of(g)
    assert np.all(y[16] == 0.0)  # white to move
    assert y[8][cell(9, "G7")] == 1 and y[0][e5] == 1  # own = white now
    assert y[8 + 1][d4] == 1 and y[8 + 5][d4] == 0


def test_captured_stones_leave_the_current_planes_only():
    g = play_game(5, ["A4", "A5", "B5"])  # black A4, white A5, black B5 captures A5
    x = planes_of(g)  # white to move
    a5 = cell(5, "A5")
    assert x[0][a5] == 0  # gone at t
    assert x[1][a5] == 1  # present at t-1 (before the capture)
    assert x[2][a5] == 0  # not yet played at t-2
    a4 = cell(5, "A4")
    assert [x[8 + t][a4] for t in range(4)] == [1, 1, 1, 0]


def test_history_stack_pads_with_empty_rows_and_keeps_eight():
    g = play_game(9, ["D4"])
    st = history_stack(g)
    assert st.shape == (HISTORY, 121) and st.dtype == np.int8
    assert np.all(st[2:] == 0)
    long = play_game(9, ["A1", "B1", "C1", "D1", "E1", "F1", "G1", "H1", "J1", "A2"])
    st = history_stack(long)
    a1 = parse_vertex("A1", 9)
    j1 = parse_vertex("J1", 9)
    assert st[0][parse_vertex("A2", 9)] == WHITE and st[1][parse_vertex("A2", 9)] == 0
    assert st[7][a1] == BLACK  # board after 3 moves: A1 B1 C1
    assert st[7][parse_vertex("D1", 9)] == 0 and st[6][parse_vertex("D1", 9)] == WHITE
    assert st[1][j1] == BLACK


def test_history_stack_from_the_stack_one_move_before():
    # the self-play loop's way, every move: shift the last stack under the new board; a
    # capture (B1 takes A1) and passes included, and more moves than the stack holds
    moves = ["A2", "A1", "B1", "pass", "C3", "D4", "pass", "E5", "F6", "G7", "H8", "J9"]
    g = play_game(9, [])
    st = history_stack(g)
    for k, v in enumerate(moves):
        g = play_game(9, [v], g)
        st = history_stack(g, st)
        assert np.array_equal(st, history_stack(g)), (k, v)


def test_path_stack_equals_the_played_game():
    root = play_game(9, ["D4", "F6", "C7", "pass", "E5"])
    moves = ["E4", "F4", "pass", "G3", "D5", "C5", "B5", "H8", "J9"]
    rs = history_stack(root)
    for k in range(len(moves) + 1):
        g = play_game(9, moves[:k], root.copy())
        pts = [parse_vertex(v, 9) for v in moves[:k]]
        assert np.array_equal(path_stack(root.board, rs, pts), history_stack(g)), k
        assert np.array_equal(leaf_planes(root.board, rs, pts), planes_of(g)), k


class _StackChecker(UniformEvaluator):
    """Uniform answers; checks every leaf's stack against a GameState replay of its path."""

    def __init__(self):
        super().__init__(value=0.5)
        self.checked = 0

    def evaluate(self, batch):
        k = batch.count
        n = batch.n
        out = np.zeros((k, HISTORY, (n + 2) ** 2), dtype=np.int8)
        root = batch.root_state
        leaf_stacks(batch.tree[mcts.T_PARENT], batch.tree[mcts.T_MOVE], batch.leaf, k, root.board,
                    history_stack(root), copy_board(root.board), out)
        for i in range(k):
            g = root.copy()
            for p in batch.path(i):
                g.play(g.to_move, p)
            assert np.array_equal(out[i], history_stack(g))
            assert np.array_equal(out[i, 0], batch.boards[0][i])  # the leaf itself
            self.checked += 1
        super().evaluate(batch)


def test_leaf_stacks_follow_the_tree_paths():
    g = play_game(7, ["D4", "C3", "E5"])
    ev = _StackChecker()
    player = MCTSPlayer(SearchConfig(lam=0.0, expand_threshold=1, batch_size=8, seed=3), ev)
    player.genmove(g, g.to_move, Budget(visits=200))
    assert ev.checked >= 200


@pytest.mark.parametrize("n", [5, 9])
def test_symmetries_round_trip(n):
    rng = np.random.default_rng(1)
    planes = rng.random((3, n, n)).astype(np.float32)
    policy = rng.random(n * n + 1).astype(np.float32)
    seen = set()
    for k in range(8):
        sp = np.zeros_like(planes)
        back = np.zeros_like(planes)
        apply_symmetry_planes(planes, k, sp)
        inverse_symmetry_planes(sp, k, back)
        assert np.array_equal(back, planes)
        pp = np.zeros_like(policy)
        pb = np.zeros_like(policy)
        apply_symmetry_policy(policy, k, n, pp)
        inverse_symmetry_policy(pp, k, n, pb)
        assert np.array_equal(pb, policy)
        assert pp[n * n] == policy[n * n]  # pass never moves
        seen.add(sp.tobytes())
        assert INVERSE[INVERSE[k]] == k
    assert len(seen) == 8  # eight different images of a generic board


@pytest.mark.parametrize("n", [5, 9])
def test_rows_builder_is_the_stack_builder_under_each_symmetry(n):
    """fill_planes_rows (what the batched loops feed the network) gives, row by row, the
    planes of fill_planes transformed by the row's symmetry, for either side to move."""
    rng = np.random.default_rng(n)
    g = GameState(n, komi=7.5)
    stacks, to_move = [], []
    for _ in range(3 * n):
        pts = g.legal_points(g.to_move)
        if not pts:
            break
        g.play(g.to_move, int(rng.choice(pts)))
        stacks.append(history_stack(g))
        to_move.append(g.to_move)
    stacks = np.array(stacks)
    to_move = np.array(to_move, dtype=np.int64)
    rows = rng.permutation(len(stacks))[:12].astype(np.int64)
    syms = rng.integers(0, 8, size=len(rows)).astype(np.int64)
    out = np.full((len(rows), PLANES, n, n), -1.0, dtype=np.float32)
    fill_planes_rows(stacks, to_move, rows, syms, n, out)
    for j, i in enumerate(rows):
        ident = np.zeros((PLANES, n, n), dtype=np.float32)
        fill_planes(stacks[i], to_move[i], n, ident)
        want = np.zeros_like(ident)
        apply_symmetry_planes(ident, syms[j], want)
        assert np.array_equal(out[j], want)


def test_planes_and_policy_transform_the_same_way():
    n = 9
    g = play_game(n, ["C6"])  # one black stone off every axis of symmetry, white to move
    st = history_stack(g)
    stacks = np.repeat(st[None], 8, axis=0)
    syms = np.arange(8, dtype=np.int64)
    out = np.zeros((8, PLANES, n, n), dtype=np.float32)
    fill_planes_batch(stacks, np.full(8, WHITE, dtype=np.int64), syms, 8, n, out)
    r, c = cell(n, "C6")
    onehot = np.zeros(n * n + 1, dtype=np.float32)
    onehot[r * n + c] = 1.0
    spots = set()
    for k in range(8):
        pol = np.zeros_like(onehot)
        apply_symmetry_policy(onehot, k, n, pol)
        stone = np.argwhere(out[k, 8] == 1.0)  # the opponent's stone at t
        assert len(stone) == 1
        assert int(np.argmax(pol)) == stone[0][0] * n + stone[0][1]
        spots.add(int(np.argmax(pol)))
        # the batched builder equals the identity planes transformed afterwards
        ident = np.zeros((PLANES, n, n), dtype=np.float32)
        fill_planes(st, WHITE, n, ident)
        moved = np.zeros_like(ident)
        apply_symmetry_planes(ident, k, moved)
        assert np.array_equal(moved, out[k])
    assert len(spots) == 8
    # a network answer given in symmetric coordinates maps back onto C6
    answers = np.zeros((8, n * n + 1), dtype=np.float32)
    for k in range(8):
        answers[k] = out[k, 8].reshape(-1).tolist() + [0.0]
    back = np.zeros_like(answers)
    unsymmetrize_policy_rows(answers, syms, 8, n, back)
    assert np.all(np.argmax(back, axis=1) == r * n + c)
    # straight into the rows of a batch: the same answers, each in its own row
    rows = np.array([9, 2, 4, 0, 7, 1, 11, 5], dtype=np.int64)
    batch = np.full((12, n * n + 1), -1.0, dtype=np.float32)
    unsymmetrize_policy_to(answers, syms, rows, n, batch)
    assert np.array_equal(batch[rows], back)
    assert np.all(batch[[3, 6, 8, 10]] == -1.0)  # no other row is written


def test_cache_keys_cover_history_and_side_to_move():
    n = 9
    a = play_game(n, ["D4", "E5", "C3", "F6"])
    b = play_game(n, ["C3", "F6", "D4", "E5"])  # same stones, different history
    c = play_game(n, ["D4", "E5", "C3", "F6"])
    metas = np.stack([s.board[8] for s in (a, b, c)])
    stacks = np.stack([history_stack(s) for s in (a, b, c)])
    keys = np.zeros(3, dtype=np.int64)
    stack_keys(stacks, metas, 3, keys)
    assert keys[0] == keys[2]
    assert keys[0] != keys[1]
    metas[2, 4] = WHITE  # M_TOMOVE: the other side to move
    stack_keys(stacks, metas, 3, keys)
    assert keys[0] != keys[2]


def test_padded_point_mapping_matches_board_layout():
    # a stone placed at (row, col) through engine.board.point shows at [row, col] of plane 0
    g = GameState(5)
    g.play(BLACK, point(5, 1, 3))
    g.play(WHITE, PASS)
    x = planes_of(g)
    assert x[0][1, 3] == 1 and x[0].sum() == 1
