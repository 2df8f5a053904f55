"""End to end: ``bastion serve``'s app on a real uvicorn server, called over HTTP."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from bastion.serve.config import ModelReference, ServeConfig
from tests.serve.conftest import FEATURES, ApprovedModel, example_records


def _config(**overrides: Any) -> ServeConfig:
    return ServeConfig(models=(ModelReference.parse("churn@prod"),), **overrides)


def test_predicts_with_a_registry_token(approved_model: ApprovedModel, start_server: Any) -> None:
    server = start_server(_config())
    token = approved_model.instance.tokens["client"]
    records = example_records(5)
    response = httpx.post(
        f"{server.url}/v1/models/churn/predict", json={"records": records}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == approved_model.version and body["variant"] == "stable"
    assert response.headers["X-Bastion-Variant"] == "stable"
    assert len(body["predictions"]) == 5 and set(body["predictions"]) <= {"0", "1"}
    assert all(0.0 <= score <= 1.0 for score in body["scores"])
    columns = {name: [row[name] for row in records] for name in FEATURES}
    columnar = httpx.post(
        f"{server.url}/v1/models/churn/predict", json={"columns": columns}, headers={"Authorization": f"Bearer {token}"}
    )
    assert columnar.json()["scores"] == body["scores"]


def test_describe_explain_feedback_and_metrics(approved_model: ApprovedModel, start_server: Any) -> None:
    server = start_server(_config())
    client = {"Authorization": f"Bearer {approved_model.instance.tokens['client']}"}
    admin = {"Authorization": f"Bearer {approved_model.instance.tokens['admin']}"}
    described = httpx.get(f"{server.url}/v1/models/churn", headers=client).json()
    assert (described["name"], described["version"], described["stage"]) == ("churn", 1, "prod")
    inputs = {field["name"]: field for field in described["inputs"]}
    assert list(inputs) == list(FEATURES) and inputs["age"]["type"] == "integer"
    example = {name: field["example"] for name, field in inputs.items()}  # a client builds a valid request from it
    answered = httpx.post(f"{server.url}/v1/models/churn/predict", json={"records": [example]}, headers=client)
    assert answered.status_code == 200, answered.text
    explained = httpx.post(f"{server.url}/v1/models/churn/explain", json={"records": example_records(4)}, headers=client)
    assert explained.status_code == 200, explained.text
    body = explained.json()
    assert body["method"] == "shap-linear" and body["features"] == list(FEATURES)
    assert len(body["attributions"]) == 4 and all(len(row) == 3 for row in body["attributions"])
    assert explained.headers["X-Bastion-Variant"] == "stable"
    request_id = answered.json()["request_id"]
    accepted = httpx.post(
        f"{server.url}/v1/feedback", json={"request_id": request_id, "label": "1", "reward": 1.0}, headers=client
    )
    assert accepted.status_code == 202 and accepted.json()["version"] == 1
    replayed = httpx.post(f"{server.url}/v1/feedback", json={"request_id": request_id, "reward": 1.0}, headers=client)
    assert replayed.status_code == 409 and "already has its reward" in replayed.json()["detail"]  # a bandit is not steered
    late_label = httpx.post(f"{server.url}/v1/feedback", json={"request_id": request_id, "label": "0"}, headers=client)
    assert late_label.status_code == 202
    unknown = httpx.post(f"{server.url}/v1/feedback", json={"request_id": "f" * 32, "label": "1"}, headers=client)
    assert unknown.status_code == 404
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/readyz").json()["status"] == "ready"
    metrics = httpx.get(f"{server.url}/metrics", headers=admin).text
    assert 'bastion_requests_total{model="churn",route="predict",status="200"} 1.0' in metrics
    assert 'bastion_variant_requests_total{model="churn",variant="stable",version="1"} 1.0' in metrics
    assert 'bastion_request_seconds_bucket{le="0.5",model="churn",route="predict"} 1.0' in metrics
    assert 'bastion_rejections_total{reason="unknown-request"} 1.0' in metrics


def test_shadow_answers_are_logged_never_returned(
    approved_model: ApprovedModel, churn_source_v2: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from fastapi.testclient import TestClient

    from bastion.registry import Stage
    from bastion.serve._server import build_state
    from bastion.serve.app import create_app
    from bastion.serve.deployments import Deployment, deploy

    instance = approved_model.instance
    shadow = instance.publish("churn", churn_source_v2, stage=Stage.STAGING)
    mlops = instance.registry.authenticate(instance.tokens["mlops"])
    deploy(instance.registry, mlops, Deployment("churn", "shadow", approved_model.version, (shadow,), 1.0))
    state = build_state(_config(poll_interval=3600))
    served = state.catalog.models["churn"]
    assert sorted(served.versions) == [1, shadow]
    records = example_records(20)
    matrix = served.primary.validator.validate({"records": records}).matrix
    stable_scores = served.versions[1].model.predict_proba(matrix)[:, 1].tolist()
    shadow_scores = served.versions[shadow].model.predict_proba(matrix)[:, 1].tolist()
    assert stable_scores != shadow_scores
    caplog.set_level(logging.INFO, logger="bastion.serve")
    with TestClient(create_app(state)) as client:
        headers = {"Authorization": f"Bearer {instance.tokens['client']}"}
        for _ in range(3):
            response = client.post("/v1/models/churn/predict", json={"records": records}, headers=headers)
            body = response.json()
            assert (body["version"], body["variant"], body["scores"]) == (1, "stable", stable_scores)
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"shadow churn:{shadow} request")]
    assert len(logged) == 3


def test_capture_configured_like_the_command_line(approved_model: ApprovedModel, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from tests.serve.conftest import running_server

    policy = tmp_path / "anon.yaml"
    policy.write_text("version: 1\n")
    config = _config(capture_sample=1.0, capture_policy=policy, capture_dir=str(tmp_path / "store"))
    token = approved_model.instance.tokens["client"]
    with running_server(config) as server:
        answered = httpx.post(
            f"{server.url}/v1/models/churn/predict",
            json={"records": example_records(2)},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answered.status_code == 200
    files = list((tmp_path / "store" / "capture" / "churn").rglob("*.parquet"))  # flushed when the server stopped
    table = pq.read_table(files[0])
    assert table.column("request_id").to_pylist() == [answered.json()["request_id"]] * 2
    assert table.column("variant").to_pylist() == ["stable", "stable"]
