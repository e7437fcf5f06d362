"""Clocks: how GTP time settings map to time systems, how the clock runs down, and that the
allocation spends main time gradually and overtime without losing a period or a block.

Games are simulated: every move "thinks" exactly the allocated time plus a transmission lag
a little under the configured margin, and the clock is charged with that."""
import math

import pytest

from engine.board import BLACK, WHITE
from engine.timecontrol import Clock, TimeConfig, TimeSettings

LAG = 0.4  # simulated lag per move, under the default lag_margin of 0.5


def simulate(clock, color, size, moves, lag=LAG):
    """Play ``moves`` own moves; returns the thinking times allocated."""
    spent = []
    for k in range(moves):
        t = clock.seconds_for_move(color, 2 * k, size)
        clock.charge(color, t + lag)
        spent.append(t)
    return spent


def test_no_time_control_is_unlimited():
    c = Clock()
    assert c.unlimited
    assert math.isinf(c.seconds_for_move(BLACK, 0, 19))
    c.charge(BLACK, 1000)  # nothing to run down
    assert math.isinf(c.seconds_for_move(BLACK, 50, 19))


def test_gtp_time_settings_select_the_system():
    c = Clock()
    c.set_gtp(300, 0, 0)
    assert c.settings == TimeSettings("absolute", 300.0)
    c.set_gtp(300, 30, 0)  # GTP 2: byo-yomi time without stones means no limit
    assert c.settings.kind == "none"
    c.set_gtp(300, 30, 25)
    assert c.settings == TimeSettings("canadian", 300.0, 30.0, 25)
    with pytest.raises(ValueError):
        c.set_gtp(-1, 0, 0)
    assert c.settings.kind == "canadian"  # a refused setting changes nothing


def test_kgs_time_settings():
    c = Clock()
    c.set_kgs("byoyomi", 600, 30, 5)
    assert c.settings == TimeSettings("byoyomi", 600.0, 30.0, 5)
    c.set_kgs("CANADIAN", 0, 300, 25)
    assert c.settings == TimeSettings("canadian", 0.0, 300.0, 25)
    c.set_kgs("absolute", 90)
    assert c.settings == TimeSettings("absolute", 90.0)
    c.set_kgs("none")
    assert c.unlimited
    for bad in [("fischer", 1, 2), ("byoyomi", 600, 30), ("absolute",), ("canadian", 0, 0, 25)]:
        with pytest.raises(ValueError):
            c.set_kgs(*bad)
    assert c.unlimited


def test_absolute_spreads_main_time_over_expected_moves():
    c = Clock()
    c.set_gtp(600, 0, 0)
    first = c.seconds_for_move(BLACK, 0, 19)
    # 19x19: about 0.75 * 361 moves in a game, half of them ours
    assert first == pytest.approx(600 / (0.75 * 361 / 2) - 0.5)
    later = c.seconds_for_move(BLACK, 200, 19)
    assert later > first  # fewer moves left to share the same time
    c.time_left(BLACK, 60, 0)
    assert c.seconds_for_move(BLACK, 200, 19) < later  # less time left, less per move
    assert c.seconds_for_move(WHITE, 200, 19) == pytest.approx(later)  # white's clock untouched


def test_absolute_time_decays_without_running_out():
    c = Clock()
    c.set_gtp(120, 0, 0)
    # 120 moves on 9x9, twice the expected length; 0.1 s of lag per move. (Under absolute
    # time every move costs at least its lag, so no allocation survives any game length.)
    spent = simulate(c, BLACK, 9, 60, lag=0.1)
    main, overtime, _, _ = c.remaining(BLACK)
    assert main > 0 and not overtime
    assert spent[0] > 1.0 and spent[-1] < spent[0] / 10  # long past the expected end: little left
    assert min(spent) >= TimeConfig().min_seconds


def test_small_main_time_gets_the_floor():
    c = Clock(config=TimeConfig(min_seconds=0.1))
    c.set_gtp(1, 0, 0)
    assert c.seconds_for_move(BLACK, 10, 19) == 0.1


def test_byoyomi_uses_one_period_per_move_once_main_time_is_gone():
    c = Clock()
    c.set_kgs("byoyomi", 0, 10, 3)
    assert c.seconds_for_move(BLACK, 0, 19) == pytest.approx(9.5)
    simulate(c, BLACK, 19, 200)
    assert c.remaining(BLACK)[3] == 3  # every move inside its period: no period lost


def test_byoyomi_main_time_runs_into_periods_safely():
    c = Clock()
    c.set_kgs("byoyomi", 30, 10, 1)  # one period only: any overrun would lose the game
    t = c.seconds_for_move(BLACK, 0, 9)
    assert t == pytest.approx(30 / (0.75 * 81 / 2) + 9.5)
    simulate(c, BLACK, 9, 80)
    main, overtime, _, periods = c.remaining(BLACK)
    assert overtime and main == 0 and periods == 1


def test_byoyomi_overrun_costs_periods():
    c = Clock()
    c.set_kgs("byoyomi", 0, 10, 5)
    c.charge(BLACK, 9.9)
    assert c.remaining(BLACK)[3] == 5
    c.charge(BLACK, 25)
    assert c.remaining(BLACK)[3] == 3


def test_kgs_time_left_counts_periods_in_byoyomi():
    c = Clock()
    c.set_kgs("byoyomi", 600, 30, 5)
    c.time_left(WHITE, 12, 2)  # KGS: in byo-yomi, 12 s of the period, 2 periods left
    main, overtime, period, periods = c.remaining(WHITE)
    assert (main, overtime, period, periods) == (0.0, True, 12.0, 2)
    assert c.seconds_for_move(WHITE, 100, 19) == pytest.approx(29.5)


def test_canadian_overtime_shares_the_block_between_its_stones():
    c = Clock()
    c.set_gtp(0, 300, 25)
    assert c.seconds_for_move(BLACK, 0, 19) == pytest.approx(300 / 25 - 0.5)
    c.time_left(BLACK, 40, 4)
    assert c.seconds_for_move(BLACK, 150, 19) == pytest.approx(40 / 4 - 0.5)


def test_canadian_never_overruns_a_block():
    c = Clock()
    c.set_gtp(60, 30, 10)
    for _ in range(150):
        t = c.seconds_for_move(BLACK, 0, 9)
        main, overtime, period, stones = c.remaining(BLACK)
        if overtime:
            assert t + LAG <= period  # this move fits in what is left of the block
        c.charge(BLACK, t + LAG)
    assert c.remaining(BLACK)[1]  # main time did run out: overtime was exercised


def test_canadian_block_resets_after_its_stones():
    c = Clock()
    c.set_gtp(0, 30, 3)
    for _ in range(3):
        c.charge(BLACK, 5)
    assert c.remaining(BLACK) == (0.0, True, 30.0, 3)
    c.charge(BLACK, 5)
    assert c.remaining(BLACK) == (0.0, True, 25.0, 2)


def test_time_left_in_main_time_restores_the_overtime_allowance():
    c = Clock()
    c.set_gtp(100, 30, 10)
    c.time_left(BLACK, 5, 3)
    assert c.remaining(BLACK)[1]
    c.time_left(BLACK, 50, 0)
    assert c.remaining(BLACK) == (50.0, False, 30.0, 10)


def test_reset_gives_both_players_full_time():
    c = Clock()
    c.set_gtp(100, 0, 0)
    c.charge(BLACK, 40)
    c.charge(WHITE, 10)
    c.reset()
    assert c.remaining(BLACK)[0] == c.remaining(WHITE)[0] == 100


def test_budget_combines_clock_fixed_seconds_and_visits():
    c = Clock()
    b = c.budget(BLACK, 0, 9, default_seconds=2.0)
    assert (b.visits, b.seconds) == (None, 2.0)  # nothing else limits: the default
    b = c.budget(BLACK, 0, 9, visits=400, default_seconds=2.0)
    assert (b.visits, b.seconds) == (400, None)  # visits alone bound the move
    b = c.budget(BLACK, 0, 9, seconds=3.0, visits=400, default_seconds=2.0)
    assert (b.visits, b.seconds) == (400, 3.0)
    c.set_kgs("byoyomi", 0, 10, 3)
    assert c.budget(BLACK, 0, 9, seconds=30.0).seconds == pytest.approx(9.5)  # clock is tighter
    assert c.budget(BLACK, 0, 9, seconds=1.0).seconds == 1.0  # fixed time is tighter
