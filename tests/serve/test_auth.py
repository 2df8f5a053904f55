"""Authentication and authorization of every route: nothing but health answers without credentials (the bug class of
MLflow's unauthenticated endpoints), each role gets exactly what its permissions allow, OIDC JWTs are checked against
a JWKS the test generates, and refusals are audited."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm
from starlette.routing import Route

from bastion.serve._server import build_state
from bastion.serve.app import PUBLIC_PATHS, create_app
from bastion.serve.config import ModelReference, OidcSettings, Rate, ServeConfig
from tests.serve.conftest import ApprovedModel, example_records

ISSUER = "https://login.example.test/"
AUDIENCE = "bastion-serve"
PATH_VALUES = {"name": "churn", "version": "1", "alias": "champion"}
BODIES = {
    "predict": {"records": example_records(2)},
    "explain": {"records": example_records(2)},
    "feedback": {"request_id": "0" * 32, "label": "1"},
    "approve": {"stage": "prod", "comment": "matrix"},
    "reject": {"stage": "prod", "comment": "matrix"},
    "promote": {"to": "staging"},
    "champion": {"version": 1},
}


class _Provider:
    """An OIDC provider's signing key and its JWKS file."""

    def __init__(self, directory: Path) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = directory / "jwks.json"
        self.jwks.write_text(json.dumps({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}))

    def token(self, *, key: Any = None, **overrides: Any) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300, "groups": ["client"]}
        claims.update(overrides)
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> _Provider:
    return _Provider(tmp_path_factory.mktemp("oidc"))


def _app(shared_model: ApprovedModel, provider: _Provider, **overrides: Any) -> Any:
    oidc = OidcSettings(ISSUER, AUDIENCE, str(provider.jwks))
    settings: dict[str, Any] = {"login_rate": Rate(1e6), **overrides}  # this module checks many bad credentials quickly
    config = ServeConfig(models=(ModelReference.parse("churn@prod"),), oidc=oidc, poll_interval=3600, **settings)
    return create_app(build_state(config))


@pytest.fixture(scope="module")
def client(shared_model: ApprovedModel, provider: _Provider) -> Iterator[TestClient]:
    with TestClient(_app(shared_model, provider)) as test_client:
        yield test_client


def _calls(app: Any) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(method, concrete path, JSON body) for every route of ``app``."""
    calls = []
    for route in app.routes:
        assert isinstance(route, APIRoute | Route), route
        path = route.path.format(**{name: PATH_VALUES[name] for name in route.param_convertors})
        for method in sorted((route.methods or set()) - {"HEAD"}):
            body = BODIES.get(path.rsplit("/", 1)[-1]) if method in ("POST", "PUT") else None
            calls.append((method, path, body))
    return calls


def _request(client: TestClient, method: str, path: str, body: Any, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.request(method, path, json=body, headers=headers)


def test_no_route_but_health_answers_without_credentials(client: TestClient) -> None:
    calls = _calls(client.app)
    assert {path for _, path, _ in calls} >= {"/v1/models/churn/predict", "/openapi.json", "/metrics", "/v1/registry/models"}
    for method, path, body in calls:
        for token in (None, "bst_000000000000_forged", "not-a-jwt"):
            response = _request(client, method, path, body, token)
            if path in PUBLIC_PATHS:
                assert response.status_code == 200, (method, path)
            else:
                assert response.status_code == 401, (method, path, token, response.status_code, response.text)
                assert response.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/no/such/route").status_code == 401  # unknown paths too: no probing for routes


def test_public_metrics_is_the_only_opt_in(shared_model: ApprovedModel, provider: _Provider) -> None:
    with TestClient(_app(shared_model, provider, public_metrics=True)) as public:
        assert public.get("/metrics").status_code == 200
        assert "bastion_requests" in public.get("/metrics").text
        assert public.post("/v1/models/churn/predict", json=BODIES["predict"]).status_code == 401


# Which roles may call each route (admin holds every permission; "client" only model.predict).
READERS = {"admin", "ml-engineer", "data-scientist", "approver", "mlops", "auditor"}
PREDICTORS = {"admin", "client"}
ALL = READERS | {"client"}
MATRIX = {
    ("POST", "/v1/models/churn/predict"): PREDICTORS,
    ("POST", "/v1/models/churn/explain"): PREDICTORS,
    ("POST", "/v1/feedback"): PREDICTORS,
    ("GET", "/v1/models"): ALL,
    ("GET", "/v1/models/churn"): ALL,
    ("GET", "/metrics"): READERS,
    ("GET", "/openapi.json"): ALL,
    ("GET", "/healthz"): ALL,
    ("GET", "/readyz"): ALL,
    ("GET", "/v1/registry/models"): READERS,
    ("GET", "/v1/registry/models/churn"): READERS,
    ("GET", "/v1/registry/models/churn/versions/1"): READERS,
    ("GET", "/v1/registry/models/churn/history"): READERS,
    ("POST", "/v1/registry/models/churn/versions/1/approve"): {"admin", "approver"},
    ("POST", "/v1/registry/models/churn/versions/1/reject"): {"admin", "approver"},
    ("POST", "/v1/registry/models/churn/versions/1/promote"): {"admin", "mlops"},
    ("PUT", "/v1/registry/models/churn/aliases/champion"): {"admin", "mlops"},
    ("DELETE", "/v1/registry/models/churn/aliases/champion"): {"admin", "mlops"},
}


def test_authorization_matrix(client: TestClient, shared_model: ApprovedModel) -> None:
    tokens = shared_model.instance.tokens
    calls = _calls(client.app)
    assert {(method, path) for method, path, _ in calls} == set(MATRIX), "a route is missing from the matrix"
    answered = _request(client, "POST", "/v1/models/churn/predict", BODIES["predict"], tokens["admin"])
    feedback = {"request_id": answered.json()["request_id"], "reward": 1.0}
    for method, path, body in calls:
        if path.endswith("/reject"):
            body = {"stage": "staging", "comment": "x"}  # see below: only its permission is exercised
        for role in sorted(ALL):
            if path.endswith("/reject") and role in MATRIX[(method, path)]:
                continue  # a reject by an allowed role would take the served version's approval away
            response = _request(client, method, path, feedback if path == "/v1/feedback" else body, tokens[role])
            if role in MATRIX[(method, path)]:
                # 409: a registry rule refused (promote prod → staging) after the permission check passed
                assert response.status_code in (200, 202, 409), (method, path, role, response.text)
            else:
                assert response.status_code == 403, (method, path, role, response.status_code, response.text)


def test_denials_are_audited(client: TestClient, shared_model: ApprovedModel) -> None:
    from bastion.audit import open_log

    response = _request(client, "POST", "/v1/models/churn/predict", BODIES["predict"], shared_model.instance.tokens["auditor"])
    assert response.status_code == 403
    assert "model.predict" in response.json()["detail"]
    client.get("/v1/models", headers={"Authorization": "Bearer not-a-jwt"})
    log = open_log()
    try:
        entries = list(log.entries())
    finally:
        log.close()
    denied = [e for e in entries if e.action == "permission.denied" and e.actor == "auditor"]
    assert denied and denied[-1].target == "churn" and denied[-1].details["permission"] == "model.predict"
    assert any(e.action == "login.failed" and e.details.get("method") == "oidc" for e in entries)


def test_a_valid_jwt_maps_groups_to_roles(client: TestClient, provider: _Provider) -> None:
    token = provider.token()
    response = _request(client, "POST", "/v1/models/churn/predict", BODIES["predict"], token)
    assert response.status_code == 200, response.text
    reader = provider.token(sub="bob", groups=["auditor"])
    assert _request(client, "POST", "/v1/models/churn/predict", BODIES["predict"], reader).status_code == 403
    assert _request(client, "GET", "/v1/registry/models", None, token).status_code == 403  # registry needs a registry token
    nobody = provider.token(sub="carol", groups=["no-such-group"])
    assert _request(client, "GET", "/metrics", None, nobody).status_code == 403


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"exp": int(time.time()) - 3600}, id="expired"),
        pytest.param({"aud": "someone-else"}, id="wrong-audience"),
        pytest.param({"iss": "https://evil.example.test/"}, id="wrong-issuer"),
        pytest.param({"sign_with_other_key": True}, id="bad-signature"),
        pytest.param({"exp": None}, id="no-expiry"),
    ],
)
def test_bad_jwts_are_refused(client: TestClient, provider: _Provider, claims: dict[str, Any]) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048) if claims.pop("sign_with_other_key", False) else None
    if claims.get("exp", 0) is None:
        now = int(time.time())
        token = jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "groups": ["client"]},
            provider.key,
            algorithm="RS256",
            headers={"kid": "k1"},
        )
    else:
        token = provider.token(key=other, **claims)
    response = _request(client, "POST", "/v1/models/churn/predict", BODIES["predict"], token)
    assert response.status_code == 401, response.text
    assert "JWT was refused" in response.json()["detail"]


def test_an_hmac_jwt_signed_with_the_public_key_is_refused(client: TestClient, provider: _Provider) -> None:
    """The algorithm-confusion attack: 'HS256' keyed with the JWKS's public key."""
    from cryptography.hazmat.primitives import serialization

    public_pem = provider.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": now + 60, "groups": ["admin"]}
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    payload = _b64(json.dumps(claims).encode())
    signature = _b64(hmac.new(public_pem, header + b"." + payload, hashlib.sha256).digest())
    forged = b".".join((header, payload, signature)).decode()
    assert _request(client, "GET", "/v1/models", None, forged).status_code == 401


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def test_credential_checks_are_rate_limited_per_client(shared_model: ApprovedModel, provider: _Provider) -> None:
    with TestClient(_app(shared_model, provider, login_rate=Rate(0.01))) as limited:
        assert limited.get("/v1/models", headers={"Authorization": "Bearer not-a-jwt"}).status_code == 401
        flooded = limited.get("/v1/models", headers={"Authorization": "Bearer still-not-a-jwt"})
        assert flooded.status_code == 429 and int(flooded.headers["Retry-After"]) >= 1


def test_the_jwks_may_come_from_a_url(shared_model: ApprovedModel, provider: _Provider) -> None:
    import http.server
    import threading

    document = provider.jwks.read_bytes()

    class Jwks(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args: Any) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Jwks) as issuer:
        threading.Thread(target=issuer.serve_forever, daemon=True).start()
        oidc = OidcSettings(ISSUER, AUDIENCE, f"http://127.0.0.1:{issuer.server_address[1]}/jwks.json")
        config = ServeConfig(models=(ModelReference.parse("churn@prod"),), oidc=oidc, poll_interval=3600)
        with TestClient(create_app(build_state(config))) as client:
            answered = _request(client, "POST", "/v1/models/churn/predict", BODIES["predict"], provider.token())
        issuer.shutdown()
    assert answered.status_code == 200, answered.text


def test_unknown_key_ids_refetch_the_jwks_url_rarely_and_a_failed_fetch_is_401(
    shared_model: ApprovedModel, provider: _Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    import http.server
    import threading

    from bastion.serve import auth

    document, fetches = provider.jwks.read_bytes(), []

    class Jwks(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fetches.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args: Any) -> None:
            pass

    def unknown_kid() -> str:
        return jwt.encode({"sub": "x"}, provider.key, algorithm="RS256", headers={"kid": f"made-up-{time.monotonic()}"})

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Jwks) as issuer:
        threading.Thread(target=issuer.serve_forever, daemon=True).start()
        oidc = OidcSettings(ISSUER, AUDIENCE, f"http://127.0.0.1:{issuer.server_address[1]}/jwks.json")
        config = ServeConfig(models=(ModelReference.parse("churn@prod"),), oidc=oidc, poll_interval=3600, login_rate=Rate(1e6))
        with TestClient(create_app(build_state(config))) as client:
            monkeypatch.setattr(auth, "_JWKS_REFRESH_SECONDS", 0.0)
            assert _request(client, "POST", "/v1/models/churn/predict", BODIES["predict"], unknown_kid()).status_code == 401
            assert len(fetches) == 2  # at start, and once for the unknown key id
            monkeypatch.setattr(auth, "_JWKS_REFRESH_SECONDS", 3600.0)
            for _ in range(5):
                assert _request(client, "POST", "/v1/models/churn/predict", BODIES["predict"], unknown_kid()).status_code == 401
            assert len(fetches) == 2  # no fetch per made-up key id
            issuer.shutdown()
            issuer.server_close()
            monkeypatch.setattr(auth, "_JWKS_REFRESH_SECONDS", 0.0)
            down = _request(client, "POST", "/v1/models/churn/predict", BODIES["predict"], unknown_kid())
    assert down.status_code == 401 and "cannot read the JWKS" in down.json()["detail"], down.text


def test_a_role_may_grant_predict_for_one_model(client: TestClient, shared_model: ApprovedModel) -> None:
    from bastion.registry import RegistryError

    registry = shared_model.instance.registry
    admin = registry.authenticate(shared_model.instance.tokens["admin"])
    registry.add_role(admin, "churn-caller", ["model.predict:churn"])
    registry.add_role(admin, "fraud-caller", ["model.predict:fraud"])
    churn = registry.add_user(admin, "churncaller", ["churn-caller"]).token
    fraud = registry.add_user(admin, "fraudcaller", ["fraud-caller"]).token
    assert _request(client, "POST", "/v1/models/churn/predict", BODIES["predict"], churn).status_code == 200
    assert _request(client, "POST", "/v1/models/churn/predict", BODIES["predict"], fraud).status_code == 403
    with pytest.raises(RegistryError, match=r"unknown permissions model\.read:churn"):
        registry.add_role(admin, "reader", ["model.read:churn"])  # only model.predict is scoped
