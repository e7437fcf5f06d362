"""Match statistics against values worked out by hand or found in the literature."""
import math

import pytest

from selfplay.stats import (elo_from_score, elo_interval, likelihood_of_superiority, score_fraction,
                            score_from_elo, sprt_bounds, sprt_decision, sprt_llr, sprt_status,
                            wilson_interval, z_value)


def test_z_for_95_percent():
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)


def test_wilson_interval_at_50_of_100():
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4)
    assert hi == pytest.approx(0.5962, abs=1e-4)


def test_wilson_interval_at_the_extremes_stays_in_range():
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and 0.0 < hi < 0.35  # 0.2775 by the formula
    assert hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson_interval(10, 10)
    assert hi == 1.0 and lo == pytest.approx(1 - 0.2775, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_interval_narrows_with_more_games():
    w10 = wilson_interval(7, 10)
    w1000 = wilson_interval(700, 1000)
    assert w1000[1] - w1000[0] < (w10[1] - w10[0]) / 5
    assert w1000[0] < 0.7 < w1000[1]


def test_wilson_interval_rejects_impossible_counts():
    with pytest.raises(ValueError):
        wilson_interval(11, 10)
    with pytest.raises(ValueError):
        wilson_interval(5, 10, confidence=1.5)


def test_elo_of_75_percent():
    assert elo_from_score(0.75) == pytest.approx(190.85, abs=0.01)
    assert elo_from_score(0.25) == pytest.approx(-190.85, abs=0.01)
    assert elo_from_score(0.5) == 0.0
    assert elo_from_score(1.0) == math.inf and elo_from_score(0.0) == -math.inf


def test_elo_and_score_are_inverse():
    for elo in (-400.0, -35.0, 0.0, 100.0, 800.0):
        assert elo_from_score(score_from_elo(elo)) == pytest.approx(elo)
    assert score_from_elo(400.0) == pytest.approx(10 / 11)


def test_draws_count_half():
    assert score_fraction(3, 2, 5) == 0.4
    assert score_fraction(0, 0, 0) == 0.5


def test_elo_interval_contains_the_estimate():
    elo, lo, hi = elo_interval(75, 0, 25)
    assert elo == pytest.approx(190.85, abs=0.01)
    assert lo < elo < hi
    assert lo == pytest.approx(elo_from_score(wilson_interval(75, 100)[0]))
    elo, lo, hi = elo_interval(10, 0, 0)
    assert elo == math.inf and hi == math.inf and 0 < lo < math.inf


def test_likelihood_of_superiority():
    assert likelihood_of_superiority(10, 10) == 0.5
    assert likelihood_of_superiority(30, 10) > 0.99
    assert likelihood_of_superiority(10, 30) < 0.01


def test_sprt_bounds_for_5_percent_errors():
    lo, hi = sprt_bounds(0.05, 0.05)
    assert hi == pytest.approx(math.log(19)) and lo == pytest.approx(-math.log(19))


def test_sprt_llr_sign_in_clear_cases():
    assert sprt_llr(80, 0, 20, 0, 50) > 0
    assert sprt_llr(20, 0, 80, 0, 50) < 0
    assert sprt_decision(sprt_llr(80, 0, 20, 0, 50)) == "H1"
    assert sprt_decision(sprt_llr(20, 0, 80, 0, 50)) == "H0"
    assert sprt_decision(sprt_llr(2, 0, 1, 0, 50)) is None  # too few games to tell


def test_sprt_llr_is_zero_halfway_between_the_hypotheses():
    # with p0 = 0.5 - d and p1 = 0.5 + d (elo0 = -elo1), a 50% score favours neither
    assert sprt_llr(50, 0, 50, -20, 20) == pytest.approx(0.0, abs=1e-12)
    assert sprt_llr(0, 10, 0, -20, 20) == pytest.approx(0.0, abs=1e-12)


def test_sprt_one_win_adds_log_of_score_ratio():
    p0, p1 = score_from_elo(0), score_from_elo(100)
    assert sprt_llr(1, 0, 0, 0, 100) == pytest.approx(math.log(p1 / p0))
    assert sprt_llr(0, 0, 1, 0, 100) == pytest.approx(math.log((1 - p1) / (1 - p0)))


def test_sprt_status_and_bad_hypotheses():
    st = sprt_status(80, 0, 20, 0, 50)
    assert st["decision"] == "H1" and st["llr"] > st["upper"]
    with pytest.raises(ValueError):
        sprt_llr(5, 0, 5, 50, 0)
    with pytest.raises(ValueError):
        sprt_bounds(0.6, 0.05)
