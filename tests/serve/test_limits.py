"""Abuse limits and input validation: rate limits (429 with Retry-After), body and batch size (413), the per-request
timeout (504), and the schema's checks (422 naming the field and the row)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bastion.ml.schema import InputField, ModelSchema
from bastion.serve._server import build_state
from bastion.serve.app import create_app
from bastion.serve.config import ModelReference, Rate, ServeConfig, parse_duration, parse_size
from bastion.serve.limits import RateLimiter
from bastion.serve.validation import BatchTooLarge, InvalidInput, RequestValidator
from tests.serve.conftest import ApprovedModel, example_records


def _client(**overrides: Any) -> TestClient:
    config = ServeConfig(models=(ModelReference.parse("churn@prod"),), poll_interval=3600, **overrides)
    return TestClient(create_app(build_state(config)))


@pytest.fixture(scope="module")
def auth(shared_model: ApprovedModel) -> dict[str, str]:
    return {"Authorization": f"Bearer {shared_model.instance.tokens['client']}"}


@pytest.fixture(scope="module")
def client(shared_model: ApprovedModel) -> Iterator[TestClient]:
    with _client(max_body=4000, max_batch=5) as test_client:
        yield test_client


def test_rate_limit_per_principal_answers_429_with_retry_after(shared_model: ApprovedModel, auth: dict[str, str]) -> None:
    body = {"records": example_records(1)}
    with _client(rate=Rate(0.01)) as limited:  # a burst of one request, then one per 100 s
        first, second = (limited.post("/v1/models/churn/predict", json=body, headers=auth) for _ in range(2))
        assert (first.status_code, second.status_code) == (200, 429)
        assert 90 <= int(second.headers["Retry-After"]) <= 100
        assert "principal 'client'" in second.json()["detail"]
        assert 'reason="rate-principal"' in limited.get("/metrics", headers=_admin(shared_model)).text


def test_rate_limit_per_model_covers_all_principals(shared_model: ApprovedModel, auth: dict[str, str]) -> None:
    body = {"records": example_records(1)}
    with _client(rate=Rate(0.01)) as limited:
        assert limited.post("/v1/models/churn/predict", json=body, headers=auth).status_code == 200
        other = limited.post("/v1/models/churn/predict", json=body, headers=_admin(shared_model))
        assert other.status_code == 429 and "model 'churn'" in other.json()["detail"]
    limiter = RateLimiter(Rate(1.0))
    assert limiter.wait("churn") is None and limiter.acquire("churn") is None
    assert limiter.wait("churn") is not None and limiter.acquire("churn") is not None
    assert limiter.acquire("other") is None  # buckets are per key


def test_body_over_the_limit_is_413(client: TestClient, auth: dict[str, str]) -> None:
    big = json.dumps({"records": example_records(1), "padding": "x" * 5000})
    response = client.post("/v1/models/churn/predict", content=big, headers={**auth, "Content-Type": "application/json"})
    assert response.status_code == 413 and "4000 bytes" in response.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        yield big[:3000].encode()
        yield big[3000:].encode()

    streamed = client.post("/v1/models/churn/predict", content=chunks(), headers={**auth, "Content-Type": "application/json"})
    assert streamed.status_code == 413


def test_batch_over_the_limit_is_413(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post("/v1/models/churn/predict", json={"records": example_records(6)}, headers=auth)
    assert response.status_code == 413 and "at most 5" in response.json()["detail"]
    assert client.post("/v1/models/churn/predict", json={"records": example_records(5)}, headers=auth).status_code == 200


def test_a_prediction_over_the_timeout_is_504(shared_model: ApprovedModel, auth: dict[str, str]) -> None:
    with _client(timeout=1e-9) as impatient:
        response = impatient.post("/v1/models/churn/predict", json={"records": example_records(1000)}, headers=auth)
    assert response.status_code == 504 and "did not answer" in response.json()["detail"]


@pytest.mark.parametrize(
    ("row", "field", "words"),
    [
        ({"age": 40, "income": 50000.0}, "tenure", "missing field"),
        ({"age": 40, "income": 50000.0, "tenure": 1.0, "ssn": "123"}, "ssn", "unknown field"),
        ({"age": "forty", "income": 50000.0, "tenure": 1.0}, "age", "expected an integer"),
        ({"age": 40.5, "income": 50000.0, "tenure": 1.0}, "age", "expected an integer"),
        ({"age": 40, "income": True, "tenure": 1.0}, "income", "expected a number"),
        ({"age": 40, "income": None, "tenure": 1.0}, "income", "null is not allowed"),
        ({"age": 400, "income": 50000.0, "tenure": 1.0}, "age", "outside the accepted range"),
        ({"age": 40, "income": 50000.0, "tenure": -5.0}, "tenure", "outside the accepted range"),
    ],
)
def test_invalid_rows_are_422_naming_field_and_row(
    client: TestClient, auth: dict[str, str], row: dict[str, Any], field: str, words: str
) -> None:
    records = [*example_records(2), row]
    response = client.post("/v1/models/churn/predict", json={"records": records}, headers=auth)
    assert response.status_code == 422, response.text
    body = response.json()
    assert (body["field"], body["row"]) == (field, 2)
    assert words in body["detail"] and "row 2" in body["detail"]


@pytest.mark.parametrize(
    "body",
    [[], {"records": []}, {"records": [1]}, {"rows": []}, {"columns": {"age": [1], "income": [1.0, 2.0]}}, {"columns": []}],
)
def test_malformed_bodies_are_422(client: TestClient, auth: dict[str, str], body: Any) -> None:
    assert client.post("/v1/models/churn/predict", json=body, headers=auth).status_code == 422
    assert client.post("/v1/models/churn/predict", content=b"{not json", headers=auth).status_code == 422


def test_range_tolerance_and_categories() -> None:
    schema = ModelSchema(
        inputs=(
            InputField("amount", "number", 50.0, minimum=0.0, maximum=100.0),
            InputField("country", "string", "FR", categories=("DE", "FR")),
            InputField("vip", "boolean", False, nullable=True),
        ),
        target="fraud",
        classes=("0", "1"),
        positive_label="1",
        model_file="model.skops",
    )
    validator = RequestValidator(schema, tolerance=0.1, max_batch=3)
    valid = validator.validate({"columns": {"amount": [-10.0, 110.0], "country": ["DE", "FR"], "vip": [True, None]}})
    assert valid.matrix.shape == (2, 3) and valid.rows[1] == {"amount": 110.0, "country": "FR", "vip": None}
    with pytest.raises(InvalidInput, match="outside the accepted range") as outside:
        validator.validate({"records": [{"amount": 110.01, "country": "DE", "vip": False}]})
    assert outside.value.field == "amount"
    with pytest.raises(InvalidInput, match="not a category seen in training") as category:
        validator.validate({"records": [{"amount": 1.0, "country": "US", "vip": False}]})
    assert (category.value.field, category.value.row) == ("country", 0)
    with pytest.raises(InvalidInput, match="expected true or false"):
        validator.validate({"records": [{"amount": 1.0, "country": "DE", "vip": "yes"}]})
    with pytest.raises(BatchTooLarge):
        validator.validate({"columns": {"amount": [1.0] * 4, "country": ["DE"] * 4, "vip": [False] * 4}})


@pytest.mark.parametrize(("text", "expected"), [("1MB", 1_000_000), ("512KiB", 524_288), ("4096", 4096)])
def test_sizes(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(("text", "expected"), [("5s", 5.0), ("250ms", 0.25), ("1m", 60.0)])
def test_durations(text: str, expected: float) -> None:
    assert parse_duration(text) == expected


def test_rates() -> None:
    assert Rate.parse("100/s").per_second == 100.0
    assert Rate.parse("60/m").per_second == 1.0
    assert Rate.parse("0.5/s").burst == 1.0


def _admin(shared_model: ApprovedModel) -> dict[str, str]:
    return {"Authorization": f"Bearer {shared_model.instance.tokens['admin']}"}


def test_rows_the_model_cannot_score_are_422(shared_model: ApprovedModel, tmp_path: Path, auth: dict[str, str]) -> None:
    """The schema allows a null income (as if training data had gaps), the fitted model cannot take NaN."""
    from bastion.ml.schema import FILE_NAME

    source = tmp_path / "nullable"
    shutil.copytree(shared_model.source, source)
    document = json.loads((source / FILE_NAME).read_text())
    for field in document["inputs"]:
        field["nullable"] = field["name"] == "income"
    (source / FILE_NAME).write_text(json.dumps(document))
    shared_model.instance.publish("nullable", source)
    config = ServeConfig(models=(ModelReference.parse("nullable@prod"),), poll_interval=3600)
    with TestClient(create_app(build_state(config))) as client:
        row = {**example_records(1)[0], "income": None}
        response = client.post("/v1/models/nullable/predict", json={"records": [row]}, headers=auth)
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("the model could not score these rows")


def test_an_integer_too_large_for_a_float_is_422_not_a_crash() -> None:
    schema = ModelSchema(
        inputs=(InputField("count", "integer", 1),),
        target="fraud",
        classes=("0", "1"),
        positive_label="1",
        model_file="model.skops",
    )
    validator = RequestValidator(schema, tolerance=0.1, max_batch=3)
    body = json.loads('{"records": [{"count": 1%s}]}' % ("0" * 400))  # Python's json makes it an int, not inf
    with pytest.raises(InvalidInput, match="too large") as refused:
        validator.validate(body)
    assert (refused.value.field, refused.value.row) == ("count", 0)
