"""Performance estimated from served probabilities while labels are late: close to the
realised performance when the model is calibrated (or recalibrated on its labelled
predictions), including under covariate shift; refused on too few rows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics

from loopml.monitoring.estimation import estimate


def _realised(y: np.ndarray, served: np.ndarray) -> dict[str, float]:
    return {"accuracy": float(((served >= 0.5) == y).mean()),
            "roc_auc": float(metrics.roc_auc_score(y, served))}  # fmt: skip


@pytest.mark.parametrize("skew", [0.0, 1.2])
def test_a_calibrated_model_is_estimated_close_to_its_realised_performance(skew: float) -> None:
    rng = np.random.default_rng(int(skew * 10))
    s = np.clip(rng.beta(2 + skew, 2, 3000), 0.01, 0.99)
    y = (rng.random(3000) < s).astype(int)
    guess = estimate([{"0": 1 - q, "1": q} for q in s])
    truth = _realised(y, s)
    assert guess.available and guess.rows == 3000
    for name in ("accuracy", "roc_auc"):
        assert guess.metrics[name] == pytest.approx(truth[name], abs=0.03), name


def test_an_overconfident_model_is_recalibrated_on_its_labelled_predictions() -> None:
    rng = np.random.default_rng(5)

    def served(n: int) -> tuple[list[dict[str, float]], np.ndarray, np.ndarray]:
        s = np.clip(rng.beta(2, 2, n), 0.01, 0.99)
        y = (rng.random(n) < s).astype(int)
        q = s**4 / (s**4 + (1 - s) ** 4)  # what the model says: far surer than it should be
        return [{"0": 1 - v, "1": v} for v in q], y, q

    window, y, q = served(3000)
    truth = _realised(y, q)["accuracy"]
    naive = estimate(window)
    assert naive.metrics["accuracy"] - truth > 0.08  # believes its own confidence
    old, old_labels, _ = served(2000)  # labelled predictions of the same model, earlier
    fixed = estimate(window, (old, list(old_labels)))
    assert fixed.metrics["accuracy"] == pytest.approx(truth, abs=0.03)


def test_too_few_rows_are_not_estimated() -> None:
    guess = estimate([{"0": 0.4, "1": 0.6}] * 10 + [None] * 50)
    assert not guess.available and "10 predictions" in guess.reason
