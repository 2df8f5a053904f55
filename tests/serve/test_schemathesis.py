"""Schemathesis generates requests from the server's own OpenAPI document and sends them, with valid credentials, to a
real server: none may end in a server error (5xx)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from bastion.serve.config import ModelReference, Rate, ServeConfig
from tests.serve.conftest import ApprovedModel, RunningServer, running_server


@pytest.fixture(scope="module")
def server(shared_model: ApprovedModel) -> Iterator[RunningServer]:
    config = ServeConfig(models=(ModelReference.parse("churn@prod"),), rate=Rate(1e6), poll_interval=3600)
    with running_server(config) as running:
        yield running


@pytest.fixture(scope="module")
def api_schema(server: RunningServer, shared_model: ApprovedModel) -> Any:
    import httpx

    admin = {"Authorization": f"Bearer {shared_model.instance.tokens['admin']}"}
    document = httpx.get(f"{server.url}/openapi.json", headers=admin).json()  # published, to authenticated callers
    return schemathesis.openapi.from_dict(document)


def test_no_server_errors(api_schema: Any, server: RunningServer, shared_model: ApprovedModel) -> None:
    admin = {"Authorization": f"Bearer {shared_model.instance.tokens['admin']}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_server_error(case: Any) -> None:
            response = case.call(base_url=server.url, headers=admin)
            case.validate_response(response, checks=[not_a_server_error])

        no_server_error()
