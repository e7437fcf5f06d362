"""Match statistics: how sure are we that one player is stronger?

Pure functions, no state, standard library only. A match between players A and B is reduced
to three counts from A's point of view: ``wins``, ``draws`` and ``losses``. A draw (jigo,
possible with integer komi) is worth half a win, so A's *score* is ``(wins + draws / 2) / n``.

- ``wilson_interval``: confidence interval of a proportion (Wilson score interval). Unlike the
  textbook ``p +- z * sqrt(p(1-p)/n)`` it stays inside [0, 1] and behaves for 0/n and n/n,
  which matters for the small, lopsided matches engines often play.
- ``elo_from_score`` / ``score_from_elo``: the logistic Elo model, ``score = 1 / (1 + 10^(-d/400))``;
  a 75% score is +190.8 Elo. ``elo_interval`` maps the Wilson interval of the score through it
  (the mapping is monotone, so the interval keeps its coverage).
- ``sprt_llr`` / ``sprt_bounds`` / ``sprt_status``: Wald's sequential probability ratio test of
  H0 "A is elo0 stronger" against H1 "A is elo1 stronger". After every game the log-likelihood
  ratio is compared with the bounds; crossing the upper one accepts H1, the lower one H0, and
  in between the match goes on. Each game is a Bernoulli trial with success probability
  ``score_from_elo(elo)``; a draw counts as half a success and half a failure.

Infinite Elo (a 100% or 0% score) is returned as ``math.inf`` / ``-math.inf``; callers that write
JSON turn it into ``null``.
"""
import math
from statistics import NormalDist


def z_value(confidence=0.95):
    """Two-sided standard normal quantile: 1.96 for 0.95."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def score_fraction(wins, draws, losses):
    """A's points per game, draws counting one half; 0.5 when no game was played."""
    n = wins + draws + losses
    return 0.5 if n == 0 else (wins + 0.5 * draws) / n


def wilson_interval(successes, n, confidence=0.95):
    """Wilson score interval ``(low, high)`` of ``successes`` out of ``n`` trials.

    ``successes`` may be fractional (half points for draws). With ``n == 0`` nothing is known
    and the interval is (0, 1).
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return 0.0, 1.0
    z = z_value(confidence)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n)) / (1.0 + z2n)
    lo = 0.0 if successes == 0 else max(0.0, centre - half)  # exact ends, not rounding noise
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return lo, hi


def elo_from_score(score):
    """Elo difference that predicts ``score`` (0..1) under the logistic model."""
    if not 0.0 <= score <= 1.0:
        raise ValueError(f"score must be in [0, 1], got {score}")
    if score == 0.0:
        return -math.inf
    if score == 1.0:
        return math.inf
    return -400.0 * math.log10(1.0 / score - 1.0)


def score_from_elo(elo):
    """Expected score of a player ``elo`` points stronger."""
    return 1.0 / (1.0 + 10.0 ** (-elo / 400.0))


def elo_interval(wins, draws, losses, confidence=0.95):
    """``(elo, low, high)``: A's Elo advantage and its confidence interval."""
    n = wins + draws + losses
    s = wins + 0.5 * draws
    lo, hi = wilson_interval(s, n, confidence)
    return elo_from_score(score_fraction(wins, draws, losses)), elo_from_score(lo), elo_from_score(hi)


def likelihood_of_superiority(wins, losses):
    """Probability that A is stronger than B given the decisive games (normal approximation);
    draws carry no information here."""
    if wins + losses == 0:
        return 0.5
    return 0.5 * (1.0 + math.erf((wins - losses) / math.sqrt(2.0 * (wins + losses))))


def sprt_bounds(alpha=0.05, beta=0.05):
    """``(lower, upper)`` LLR bounds: accept H0 below ``lower``, H1 above ``upper``.

    ``alpha`` is the chance of accepting H1 when H0 holds, ``beta`` the reverse.
    """
    if not (0.0 < alpha < 0.5 and 0.0 < beta < 0.5):
        raise ValueError(f"alpha and beta must be in (0, 0.5), got {alpha}, {beta}")
    return math.log(beta / (1.0 - alpha)), math.log((1.0 - beta) / alpha)


def sprt_llr(wins, draws, losses, elo0, elo1):
    """Log-likelihood ratio of H1 (A is ``elo1`` stronger) over H0 (``elo0``) after these games."""
    if not elo1 > elo0:
        raise ValueError(f"SPRT needs elo0 < elo1, got {elo0}, {elo1}")
    p0, p1 = score_from_elo(elo0), score_from_elo(elo1)
    s = wins + 0.5 * draws
    f = losses + 0.5 * draws
    return s * math.log(p1 / p0) + f * math.log((1.0 - p1) / (1.0 - p0))


def sprt_decision(llr, alpha=0.05, beta=0.05):
    """``'H1'`` (A is at least elo1 stronger), ``'H0'`` (at most elo0) or ``None`` (go on)."""
    lower, upper = sprt_bounds(alpha, beta)
    if llr >= upper:
        return "H1"
    if llr <= lower:
        return "H0"
    return None


def sprt_status(wins, draws, losses, elo0, elo1, alpha=0.05, beta=0.05):
    """Everything a report needs about the test, as a plain dict (JSON-ready)."""
    llr = sprt_llr(wins, draws, losses, elo0, elo1)
    lower, upper = sprt_bounds(alpha, beta)
    return {"elo0": elo0, "elo1": elo1, "alpha": alpha, "beta": beta,
            "llr": llr, "lower": lower, "upper": upper,
            "decision": sprt_decision(llr, alpha, beta)}
