import numpy as np
import pytest

from triage.classifiers.priors import PriorShift


def _calls(rng: np.random.Generator, priors: list[float], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn with `priors`, and the exact posteriors of a model that assumed equal priors: one feature per
    call, normal around its class's mean, the classes overlapping as a category head's do on another city's calls."""
    y = rng.choice(len(priors), size=n, p=priors)
    x = rng.normal(loc=y.astype(float), scale=1.0)
    likelihood = np.exp(-0.5 * (x[:, None] - np.arange(len(priors))[None, :]) ** 2)
    return y, likelihood / likelihood.sum(axis=1, keepdims=True)


def test_em_finds_a_new_city_s_priors_and_bayes_rule_makes_it_more_accurate():
    rng = np.random.default_rng(0)
    local = [0.7, 0.2, 0.1]  # a hotline that files almost everything as its first class
    y, proba = _calls(rng, local, 3000)
    shift = PriorShift().fit(proba, train_priors=[1 / 3, 1 / 3, 1 / 3])
    assert np.allclose(shift.priors_, local, atol=0.05)
    assert shift.ratio_[0] > 1 > shift.ratio_[2]
    adjusted = shift.transform(proba)
    assert np.allclose(adjusted.sum(axis=1), 1.0)
    assert (adjusted.argmax(axis=1) == y).mean() > (proba.argmax(axis=1) == y).mean() + 0.05


def test_the_same_priors_change_nothing():
    rng = np.random.default_rng(1)
    _, proba = _calls(rng, [0.5, 0.5], 4000)
    shift = PriorShift().fit(proba, train_priors=[0.5, 0.5])
    assert np.allclose(shift.ratio_, 1.0, atol=0.05)


def test_a_class_absent_from_the_local_calls_stays_possible():
    proba = np.array([[0.9, 0.1, 0.0], [0.8, 0.2, 0.0]])
    shift = PriorShift().fit(proba, train_priors=[0.4, 0.4, 0.2])
    assert shift.priors_[2] > 0
    assert np.all(shift.transform(np.array([[0.0, 0.0, 1.0]]))[:, 2] == 1.0)


@pytest.mark.parametrize(
    ("proba", "priors", "message"),
    [
        (np.zeros((0, 3)), [1, 1, 1], "non-empty"),
        (np.array([[0.5, np.nan]]), [1, 1], "finite"),
        (np.array([[0.5, 0.5]]), [1, 0], "positive"),
        (np.array([[0.5, 0.5]]), [1, 1, 1], "2 positive numbers"),
    ],
)
def test_bad_input_is_refused_with_the_reason(proba, priors, message):
    with pytest.raises(ValueError, match=message):
        PriorShift().fit(proba, priors)
