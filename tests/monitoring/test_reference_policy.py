"""A model registered outside a pipeline has no training data in its lineage: the error says
how to name a reference, and a policy's `reference:` is used by `check` and the drift trigger."""

from __future__ import annotations

import pytest
from sklearn.linear_model import LogisticRegression

import loopml
from loopml.core.errors import NotFoundError
from tests.monitoring.helpers import FEATURES, log_predictions
from tests.serving.conftest import iris_frame

POLICY = """\
policies:
  iris-api:
    model: iris
    pipeline: train.py:training
    reference: iris@1
"""


@pytest.fixture
def unlinked(workspace, tmp_path):
    """iris v1 registered from a notebook: no run, no dataset in its lineage."""
    frame = iris_frame()
    frame.to_csv(tmp_path / "iris.csv", index=False)
    loopml.datasets.add("iris", tmp_path / "iris.csv", workspace=workspace)
    model = LogisticRegression(max_iter=500).fit(FEATURES, frame["target"])
    loopml.registry.register("iris", model, input_example=FEATURES.head(), workspace=workspace)
    loopml.deployments.create("iris-api", "iris/1", workspace=workspace)
    log_predictions(workspace, model, FEATURES.sample(100, random_state=0))
    return workspace


def test_the_error_says_how_to_name_a_reference(unlinked) -> None:
    with pytest.raises(NotFoundError, match=r"reference=.*policies\.iris-api\.reference"):
        loopml.monitoring.check("iris-api", workspace=unlinked)


def test_a_policy_names_the_reference(unlinked, tmp_path) -> None:
    (tmp_path / "train.py").write_text("training = None\n")
    (tmp_path / "loopml.yaml").write_text(POLICY)
    report = loopml.monitoring.check("iris-api", workspace=unlinked)
    assert report.reference.startswith("dataset iris@1") and not report.dataset_drift
