"""Micro-batching merges concurrent requests into one model call and splits answers back."""

from __future__ import annotations

import concurrent.futures

from tests.serving.conftest import FEATURES


def test_batched_answers_match_each_request(iris_workspace, start_server) -> None:
    server = start_server(iris_workspace, batch_max_rows=32, batch_max_wait=0.02)
    rows = FEATURES.sample(64, random_state=0).to_dict("records")
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(
            lambda row: server.client.post("/predict", json={"instances": [row]}).json(), rows
        ))  # fmt: skip
    single = [server.service.table.primary.model.predict([row])[0] for row in rows]
    assert [a["predictions"][0] for a in answers] == [int(v) for v in single]
    metrics = server.client.get("/metrics").text
    counts = [line for line in metrics.splitlines() if line.startswith("loopml_batch_rows_count")]
    calls = float(counts[0].rsplit(" ", 1)[1])
    assert calls < len(rows)  # at least some requests shared a model call
