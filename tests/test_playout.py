"""Playouts: legal and consistent boards, the light-playout eye rule, reproducibility, the
heuristic tactics, pattern-weighted choice and the tree priors."""
import numpy as np
import pytest

from engine import board as fb
from engine.board import BLACK, PASS, WHITE, M_KO, M_PASSES, M_TOMOVE
from engine.coords import format_vertex, parse_vertex
from engine.diagram import state_from_diagram
from engine.playout import (MODE_HEURISTIC, MODE_LIGHT, MODE_PATTERN, PAT3_GOOD,
                            check_pattern_weights, choose_heuristic, choose_light,
                            choose_pattern, code_from_rows, default_pattern_weights,
                            flat_mc_move, heuristic_priors, light_ok, no_pattern_weights,
                            pattern_code, playout_score, run_playout, symmetrize,
                            transform_code, weights_from_logits)
from engine.reference import check_consistency
from engine.rng import new_rng

KOMI = 0.5


def v(state_or_n, text):
    n = state_or_n if isinstance(state_or_n, int) else state_or_n.size
    return parse_vertex(text, n)


def step_playout(b, rng, choose, check_every=1):
    """Play a playout move by move with ``choose(b, c, rng)``; yields (colour, move) after
    each move, checking the fast board against the reference recomputation."""
    n = int(b[8][0])
    for i in range(3 * n * n):
        if b[8][M_PASSES] >= 2:
            return
        c = int(b[8][M_TOMOVE])
        p = int(choose(b, c, rng))
        yield c, p
        fb.play(b, p, c)
        if i % check_every == 0:
            check_consistency(b)


@pytest.mark.parametrize("mode", [MODE_LIGHT, MODE_HEURISTIC, MODE_PATTERN])
@pytest.mark.parametrize("n", [5, 9])
def test_playout_ends_consistent_and_scored(mode, n):
    w = default_pattern_weights()
    for seed in range(6):
        b = fb.new_board(n)
        s = run_playout(b, new_rng(seed), mode, KOMI, w)
        check_consistency(b)
        assert s == fb.area_score(b, KOMI)
        # a finished playout: two passes, or no legal non-eye move is left
        assert b[8][M_PASSES] >= 2


@pytest.mark.parametrize("choose", [choose_light, choose_heuristic])
def test_playout_moves_respect_simple_ko(choose):
    kos = 0
    for seed in range(150):
        b = fb.new_board(5)
        rng = new_rng(seed)
        for _ in range(75):
            if b[8][M_PASSES] >= 2:
                break
            c = int(b[8][M_TOMOVE])
            p = int(choose(b, c, rng))
            assert fb.is_legal(b, p, c)
            fb.play(b, p, c)
            kos += b[8][M_KO] >= 0
    assert kos > 20  # ko fights did happen


def test_light_playout_never_fills_own_eye_and_plays_legal_moves():
    for seed in range(10):
        b = fb.new_board(7)
        for c, p in step_playout(b, new_rng(seed), choose_light, check_every=5):
            if p != PASS:
                assert fb.is_legal(b, p, c)
                assert not fb.is_eye(b, p, c), format_vertex(p, 7)
            else:
                # pass only when nothing else is allowed
                assert not any(light_ok(b, int(q), c) for q in b[5][:b[8][fb.M_NEMPTY]])


def test_light_rule_equals_legal_and_not_eye():
    # positions from many playouts, stopped at random points, all empty points, both colours
    checked = 0
    for seed in range(40):
        rng = new_rng(seed)
        b = fb.new_board(7)
        stop = 20 + seed * 2
        for c, p in step_playout(b, rng, choose_light, check_every=1000):
            stop -= 1
            if stop == 0:
                break
        for q in b[5][:b[8][fb.M_NEMPTY]]:
            for c in (BLACK, WHITE):
                q = int(q)
                assert light_ok(b, q, c) == (fb.is_legal(b, q, c) and not fb.is_eye(b, q, c))
                checked += 1
    assert checked > 1000


def test_light_move_never_fills_own_real_eye():
    g = state_from_diagram("""
        . X . X O
        X X X X O
        O O O O O
        . . . . .
        . . . . .
    """, to_move=BLACK)
    # A5 and C5 are black eyes; the white wall leaves black no other way out
    a5, c5 = v(g, "A5"), v(g, "C5")
    assert fb.is_eye(g.board, a5, BLACK) and fb.is_eye(g.board, c5, BLACK)
    for seed in range(30):
        p = choose_light(g.board, BLACK, new_rng(seed))
        assert p not in (a5, c5)


def test_same_seed_same_playout_different_seed_differs():
    w = default_pattern_weights()
    for mode in (MODE_LIGHT, MODE_HEURISTIC, MODE_PATTERN):
        finals = []
        scores = []
        for seed in (7, 7, 8, 9, 10):
            b = fb.new_board(9)
            scores.append(run_playout(b, new_rng(seed), mode, KOMI, w))
            finals.append(b[0].copy())
        assert scores[0] == scores[1] and np.array_equal(finals[0], finals[1])
        assert any(not np.array_equal(finals[0], f) for f in finals[2:])


def test_finished_game_is_played_on():
    # the game ended with White's dead stone B4 still inside Black's area
    g = state_from_diagram("""
        . X . X O .
        X X X X O .
        . O . X O O
        . . X X O .
        . . X O O O
        . . X O . .
    """, komi=KOMI)
    g.play(BLACK, PASS)
    g.play(WHITE, PASS)
    tt = g.score()
    scores = []
    for seed in range(20):
        b = fb.copy_board(g.board)
        scores.append(run_playout(b, new_rng(seed), MODE_HEURISTIC, KOMI, no_pattern_weights()))
        assert b[8][M_PASSES] >= 2 and b[8][fb.M_MOVES] > g.board[8][fb.M_MOVES]
    # Black's lower-left region goes from neutral to black once the stone is gone
    assert tt == 13 - 15 - KOMI
    assert all(s == 22 - 14 - KOMI for s in scores)


def _answers_to_atari(diagram, white_move, chain, answer):
    """White plays ``white_move`` on the diagram, which leaves the chain at ``chain`` in
    atari; (heuristic, light) counts of black's choice out of 100 seeds that are ``answer``."""
    g = state_from_diagram(diagram, to_move=WHITE)
    g.play(WHITE, v(g, white_move))
    assert g.board[3][g.board[2][v(g, chain)]] == 1
    target = v(g, answer)
    heavy = sum(choose_heuristic(g.board, BLACK, new_rng(s)) == target for s in range(100))
    light = sum(choose_light(g.board, BLACK, new_rng(s)) == target for s in range(100))
    return heavy, light


def test_heuristic_captures_chain_in_atari_next_to_last_move():
    # white F6 extends E6 into atari: the chain's last liberty is G6
    heavy, light = _answers_to_atari("""
        . . . . . . . . .
        . . . . . . . . .
        . . . . X X . . .
        . . . X O . . . .
        . . . . X X . . .
        . . . . . . . . .
        . . . . . . . . .
        . . . . . . . . .
        . . . . . . . . .
    """, "F6", "F6", "G6")
    assert heavy >= 85
    assert light <= 10


def test_heuristic_saves_chain_put_in_atari():
    # white E4 leaves black D4 with D3 only; D3 gives three liberties
    heavy, light = _answers_to_atari("""
        . . . . . . .
        . . . . . . .
        . . . O . . .
        . . O X . . .
        . . . . . . .
        . . . . . . .
        . . . . . . .
    """, "E4", "D4", "D3")
    assert heavy >= 80
    assert light <= 10


def test_heuristic_random_moves_avoid_big_self_atari():
    # Black's only legal moves, A1 and C1, each leave the five-stone chain in atari
    g = state_from_diagram("""
        . O . O .
        O X O O O
        O X O . O
        O X O O O
        . X . O .
    """, to_move=BLACK)
    b = g.board
    legal = [p for p in g.legal_points(BLACK)]
    assert sorted(legal) == sorted([v(g, "A1"), v(g, "C1")])
    heavy = [choose_heuristic(b, BLACK, new_rng(s)) for s in range(100)]
    light = [choose_light(b, BLACK, new_rng(s)) for s in range(100)]
    assert sum(p == PASS for p in heavy) >= 80
    assert all(p in legal for p in light)


def test_pattern_code_layout_and_colour_swap():
    g = state_from_diagram("""
        X O .
        . . X
        O . .
    """)
    b = g.board
    p = v(g, "B2")
    # for black: NW own, N opponent, NE empty, W empty, E own, SW opponent, S/SE empty
    assert pattern_code(b, p, BLACK) == code_from_rows(["XO.", "..X", "O.."])
    assert pattern_code(b, p, WHITE) == code_from_rows(["OX.", "..O", "X.."])
    assert pattern_code(b, v(g, "C1"), BLACK) == code_from_rows([".X#", "..#", "###"])


def test_pattern_symmetries():
    code = code_from_rows(["XO.", "..#", "O.#"])
    images = {transform_code(code, k) for k in range(8)}
    assert len(images) == 8
    assert transform_code(code, 1) == code_from_rows(["O.X", "..O", "##."])
    w = np.zeros(65536, dtype=np.float32)
    w[code] = 8.0
    s = symmetrize(w)
    assert all(s[i] == pytest.approx(1.0) for i in images)
    assert s.sum() == pytest.approx(8.0)
    # the built-in shapes are closed under symmetry and colour swap
    good = np.nonzero(PAT3_GOOD)[0][:200]
    for c in good:
        assert all(PAT3_GOOD[transform_code(int(c), k)] for k in range(8))


def test_pattern_mode_follows_strong_weight():
    g = state_from_diagram("""
        . . . . .
        . X O . .
        . . X . .
        . . . . .
        . . . . .
    """, to_move=WHITE)
    b = g.board
    target = v(g, "D3")  # the point east of the central black stone
    code = pattern_code(b, target, WHITE)
    others = {pattern_code(b, int(p), WHITE) for p in b[5][:b[8][fb.M_NEMPTY]] if p != target}
    assert code not in others
    w = np.ones(65536, dtype=np.float32)
    w[code] = 1e6
    picks = [choose_pattern(b, WHITE, new_rng(s), w) for s in range(30)]
    assert all(p == target for p in picks)
    # for black the same point has a different code, so the weight does not apply
    assert pattern_code(b, target, BLACK) != code
    black = [choose_pattern(b, BLACK, new_rng(s), w) for s in range(30)]
    assert sum(p == target for p in black) < 10


def test_pattern_mode_zero_weights_pass_and_bad_tables_rejected():
    b = fb.new_board(5)
    assert choose_pattern(b, BLACK, new_rng(0), np.zeros(65536, dtype=np.float32)) == PASS
    with pytest.raises(ValueError):
        check_pattern_weights(np.ones(100, dtype=np.float32), MODE_PATTERN)
    with pytest.raises(ValueError):
        check_pattern_weights(-np.ones(65536), MODE_PATTERN)
    with pytest.raises(ValueError):
        check_pattern_weights(np.ones(65536), 7)
    wl = weights_from_logits(np.arange(65536) / 65536.0)
    assert wl.max() == pytest.approx(1.0) and wl.min() > 0


def test_priors_legal_only_and_normalised():
    g = state_from_diagram("""
        . X . . .
        X . X . .
        . X . . .
        . . . O .
        . . . . O
    """, to_move=WHITE)
    n = g.size
    out = np.zeros(n * n + 1, dtype=np.float32)
    heuristic_priors(g.board, WHITE, out)
    assert out.sum() == pytest.approx(1.0, abs=1e-5)
    b = g.board
    for a in range(n * n):
        p = fb.from_action(n, a)
        if fb.is_legal(b, p, WHITE):
            assert out[a] > 0
        else:
            assert out[a] == 0, format_vertex(p, n)
    assert out[fb.to_action(n, v(g, "B4"))] == 0  # suicide for white
    assert out[fb.to_action(n, v(g, "B5"))] == 0  # occupied
    assert 0 < out[n * n] < out.max() / 10  # pass is possible but small
    # black's view: B4 is an own eye, much less likely than an open point
    heuristic_priors(b, BLACK, out)
    assert out[fb.to_action(n, v(g, "B4"))] < 0.1 * out[fb.to_action(n, v(g, "C1"))]


def test_priors_boost_capture_and_respect_ko():
    g = state_from_diagram("""
        . X O . .
        X O . O .
        . X O . .
        . . . . .
        . . . . .
    """, to_move=BLACK)
    n = g.size
    # black captures B4 at C4: a ko, white may not take back at B4 at once
    c4 = v(g, "C4")
    out = np.zeros(n * n + 1, dtype=np.float32)
    heuristic_priors(g.board, BLACK, out)
    plain = out[fb.to_action(n, v(g, "E1"))]
    assert out[fb.to_action(n, c4)] > 3 * plain
    assert out[fb.to_action(n, c4)] == out[:n * n].max()
    g.play(BLACK, c4)
    assert g.board[8][M_KO] == v(g, "B4")
    heuristic_priors(g.board, WHITE, out)
    assert out[fb.to_action(n, v(g, "B4"))] == 0
    assert out.sum() == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError):
        heuristic_priors(g.board, WHITE, np.zeros(n * n, dtype=np.float32))


def test_flat_mc_wins_the_capturing_race():
    # Both big chains have one liberty, E1: whoever plays there first wins the game
    g = state_from_diagram("""
        O O O O X
        X X X O X
        . . X O X
        . . X O X
        . . X O .
    """, to_move=BLACK, komi=0.5)
    for mode in (MODE_LIGHT, MODE_HEURISTIC):
        p = flat_mc_move(g.board, 300, mode, 0.5, no_pattern_weights(), new_rng(1))
        assert p == v(g, "E1")


def test_flat_mc_passes_without_moves():
    g = state_from_diagram("""
        . X O .
        X X O O
        X X O O
        . X O .
    """, to_move=BLACK)
    assert flat_mc_move(g.board, 50, MODE_LIGHT, 0.5, no_pattern_weights(), new_rng(0)) == PASS


def test_playout_score_fast_path_matches_area_score():
    for seed in range(10):
        b = fb.new_board(9)
        run_playout(b, new_rng(seed), MODE_LIGHT, KOMI, no_pattern_weights())
        assert playout_score(b, 7.5) == fb.area_score(b, 7.5)
    # a board with open regions goes through the full region scan
    g = state_from_diagram("""
        . . X O .
        . . X O .
        . . X O .
        . . X O .
        . . X O .
    """, komi=0.5)
    assert playout_score(g.board, 0.5) == g.score() == 4.5


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError):
        run_playout(fb.new_board(5), new_rng(0), 5, KOMI, no_pattern_weights())


def test_pattern_weights_stay_equal_to_a_fresh_computation():
    from engine.playout import _pattern_init, _pattern_step
    w = default_pattern_weights() * np.linspace(0.5, 2.0, 65536).astype(np.float32)
    for seed in range(3):
        b = fb.new_board(7)
        rng = new_rng(seed)
        wts, rows, dirty = _pattern_init(b, w)
        scratch = np.empty(b[0].shape[0], dtype=np.int64)
        caps = np.empty(b[0].shape[0], dtype=np.int64)
        captures = 0
        while b[8][M_PASSES] < 2:
            before = int(b[8][fb.M_CAPB] + b[8][fb.M_CAPW])
            _pattern_step(*b, rng, w, wts, rows, dirty, scratch, caps)
            captures += int(b[8][fb.M_CAPB] + b[8][fb.M_CAPW]) - before
            fresh_w, fresh_rows, _ = _pattern_init(b, w)
            assert np.array_equal(wts, fresh_w)
            assert np.allclose(rows, fresh_rows)
        check_consistency(b)
        assert captures > 0  # the capture bookkeeping was exercised
