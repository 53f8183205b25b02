import numpy as np
import pytest

from lcpfn.distribution import BarDistribution
from lcpfn.prediction import BarPredictive, Prediction

BORDERS = np.linspace(-3.0, 3.0, 31)
# One query whose bars put about a third of their mass beyond z = 1, the value an accuracy of exactly 1 maps to
# below: higher is better, so y = -(loc + scale * z) with loc = -0.9 and scale = 0.1 puts y = 1 at z = -1.
LOGITS = -0.5 * ((BORDERS[:-1] + BORDERS[1:]) / 2 + 0.6) ** 2 * np.ones((1, 1))


def _accuracy(limits: str) -> Prediction:
    bars = BarDistribution(BORDERS, limits=limits)
    normalized = BarPredictive(bars, LOGITS, lo=-1.0, hi=9.0)  # z limits of accuracies 1 (best) and 0
    return Prediction(np.array([100.0]), normalized, loc=-0.9, scale=0.1, direction=1.0)


def test_an_accuracy_censored_at_1_gives_that_value_a_probability_of_its_own():
    p = _accuracy("censored")
    atom = float(np.exp(p.log_prob(1.0))[0])
    assert p.is_atom(1.0).all() and not p.is_atom(0.95).any()
    assert 0.2 < atom < 0.6
    assert p.cdf(1.0)[0] == pytest.approx(1.0)
    assert p.cdf(1.0 - 1e-4)[0] == pytest.approx(1.0 - atom, abs=1e-2)
    assert p.prob_better_than(1.0)[0] == pytest.approx(0.0, abs=1e-12)  # nothing beats an accuracy of 1
    assert p.prob_better_than(0.999)[0] >= atom
    low, high = p.interval(0.9)
    assert high[0] == 1.0 and low[0] < 1.0  # the interval ends on the atom, so an accuracy of 1 lies inside it


def test_a_truncated_prediction_has_a_density_up_to_the_limit_and_no_atom():
    p = _accuracy("truncated")
    assert not p.is_atom(1.0).any()
    low, high = p.interval(0.9)
    assert high[0] < 1.0
    # A density in the user's units: the normalized one over the scale.
    normalized = p.normalized.log_prob(p._z(0.95))
    np.testing.assert_allclose(p.log_prob(0.95), normalized - np.log(0.1))


def test_censored_and_truncated_agree_where_no_limit_is_known():
    bars_c, bars_t = BarDistribution(BORDERS, limits="censored"), BarDistribution(BORDERS, limits="truncated")
    c = Prediction(np.array([1.0]), BarPredictive(bars_c, LOGITS), loc=0.0, scale=1.0, direction=-1.0)
    t = Prediction(np.array([1.0]), BarPredictive(bars_t, LOGITS), loc=0.0, scale=1.0, direction=-1.0)
    np.testing.assert_allclose(c.quantile([0.05, 0.5, 0.95]), t.quantile([0.05, 0.5, 0.95]))
    np.testing.assert_allclose(c.log_prob([0.3]), t.log_prob([0.3]))
    np.testing.assert_allclose(c.mean, t.mean)


@pytest.mark.parametrize("method", ["cdf", "log_prob", "prob_better_than"])
def test_a_nan_value_to_compare_with_is_an_error_not_a_nan_probability(method):
    p = _accuracy("censored")
    with pytest.raises(ValueError, match=r"got nan at query 0 \(step 100\)"):
        getattr(p, method)(float("nan"))
    assert np.isfinite(getattr(p, method)(0.5)).all()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda p: p.cdf([0.5, 0.6]), r"one per query step \(1\)"),
        (lambda p: p.quantile(["a"]), "quantile levels must be numbers"),
        (lambda p: p.quantile([[0.1, 0.2]]), r"flat sequence of numbers, got shape \(1, 2\)"),
    ],
)
def test_a_malformed_question_to_a_prediction_says_what_is_wrong(call, message):
    with pytest.raises(ValueError, match=message):
        call(_accuracy("censored"))
