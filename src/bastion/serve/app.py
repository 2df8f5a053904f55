"""The HTTP API: predictions, explanations, feedback, model descriptions, the registry operations, health and metrics.

Deny by default: ``_Gate`` (an ASGI middleware in front of every route) authenticates each request before any route
runs, except the health routes (and ``/metrics`` with ``--public-metrics``); a route then checks the permission it
needs. So a route added later without thinking of security still answers nobody without credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Body, FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from bastion.core import BastionError
from bastion.registry import Permission
from bastion.serve.auth import AuthenticationError, Authenticator, Caller
from bastion.serve.limits import RateLimiter
from bastion.serve.validation import BatchTooLarge, InvalidInput

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from bastion.registry import Registry
    from bastion.serve.admission import ServedVersion
    from bastion.serve.catalog import Catalog, ServedModel
    from bastion.serve.config import ServeConfig
    from bastion.serve.interface import CaptureSink, Route, Router
    from bastion.serve.metrics import ServerMetrics

PUBLIC_PATHS = frozenset({"/healthz", "/readyz"})
"""Routes that answer without credentials (``/metrics`` too with ``--public-metrics``)."""
_REMEMBERED_REQUESTS = 100_000  # request ids kept for /v1/feedback (model and version that answered)
_log = logging.getLogger("bastion.serve")


class _Refusal(Exception):
    """An error answer: status, one-line detail, and optional fields and headers."""

    def __init__(self, status: int, detail: str, *, reason: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.detail, self.reason, self.headers, self.extra = status, detail, reason, headers or {}, extra


class _BodyTooLarge(Exception):
    pass


@dataclass
class ServerState:
    """Everything the routes share."""

    config: ServeConfig
    registry: Registry
    catalog: Catalog
    router: Router
    metrics: ServerMetrics
    authenticator: Authenticator
    capture: CaptureSink | None = None
    principal_limits: RateLimiter = field(init=False)
    model_limits: RateLimiter = field(init=False)
    login_limits: RateLimiter = field(init=False)
    """Failed credential checks per client address: each costs a registry query or a JWT check and an audit entry,
    so a client over its budget is refused before the work is done."""
    answered: OrderedDict[str, tuple[str, int]] = field(default_factory=OrderedDict)
    """request id → (model, version), for feedback."""
    rewarded: set[str] = field(default_factory=set)
    """The remembered request ids whose reward arrived: one reward per prediction, so a replayed feedback cannot
    steer a bandit."""

    def __post_init__(self) -> None:
        self.principal_limits = RateLimiter(self.config.rate)
        self.model_limits = RateLimiter(self.config.rate)
        self.login_limits = RateLimiter(self.config.login_rate)


def create_app(state: ServerState) -> FastAPI:
    """The FastAPI application over ``state`` (the catalog already loaded)."""
    from bastion import __version__

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        watcher = asyncio.create_task(state.catalog.watch())
        try:
            yield
        finally:
            watcher.cancel()
            if state.capture is not None:
                await run_in_threadpool(state.capture.close)

    app = FastAPI(
        lifespan=lifespan,
        title="Bastion model server",
        version=__version__,
        description="Signed, approved, scanned models behind authentication, rate limits and input validation.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.bastion = state
    _add_model_routes(app, state)
    _add_registry_routes(app, state)
    _add_operational_routes(app, state)
    public = PUBLIC_PATHS | ({"/metrics"} if state.config.public_metrics else set())
    app.add_middleware(_Gate, state=state, public=public)
    return app


# --- the gate ------------------------------------------------------------------------------------


class _Gate:
    """Authentication and the body-size limit for every request, before routing."""

    def __init__(self, app: ASGIApp, *, state: ServerState, public: frozenset[str] | set[str]) -> None:
        self._app, self._state, self._public = app, state, frozenset(public)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        state = self._state
        limit = state.config.max_body
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            state.metrics.rejections.labels("body-size").inc()
            await _send_json(send, 413, {"detail": f"request body over {limit} bytes; send smaller batches"})
            return
        if scope["path"] not in self._public and state.config.security:
            authorization = headers.get(b"authorization", b"").decode("latin-1") or None
            caller = state.authenticator.cached(authorization)
            if caller is None:
                client = scope.get("client")
                address = client[0] if client else ""
                wait = state.login_limits.wait(address)
                if wait is not None:
                    state.metrics.rejections.labels("rate-login").inc()
                    retry = str(max(1, int(wait + 0.999))).encode()
                    await _send_json(
                        send, 429, {"detail": "too many failed credential checks; retry later"}, {b"retry-after": retry}
                    )
                    return
                try:
                    caller = await state.authenticator.verify(authorization)
                except AuthenticationError as exc:
                    state.login_limits.acquire(address)
                    state.metrics.rejections.labels("unauthenticated").inc()
                    await _send_json(send, 401, {"detail": str(exc)}, {b"www-authenticate": b'Bearer realm="bastion"'})
                    return
            scope.setdefault("state", {})["caller"] = caller
        received = 0
        started = False

        async def counted_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def tracked_send(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, counted_receive, tracked_send)
        except _BodyTooLarge:
            state.metrics.rejections.labels("body-size").inc()
            if not started:
                await _send_json(send, 413, {"detail": f"request body over {limit} bytes; send smaller batches"})


async def _send_json(send: Send, status: int, document: dict[str, Any], headers: dict[bytes, bytes] | None = None) -> None:
    body = json.dumps(document).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


# --- models --------------------------------------------------------------------------------------

_RECORDS_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["records"],
                        "additionalProperties": False,
                        "properties": {"records": {"type": "array", "minItems": 1, "items": {"type": "object"}}},
                    },
                    {
                        "type": "object",
                        "required": ["columns"],
                        "additionalProperties": False,
                        "properties": {"columns": {"type": "object", "additionalProperties": {"type": "array", "minItems": 1}}},
                    },
                ]
            }
        }
    },
}
_FEEDBACK_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["request_id"],
                "properties": {
                    "request_id": {"type": "string"},
                    "label": {"type": ["string", "null"]},
                    "reward": {"type": ["number", "null"]},
                },
            }
        }
    },
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid credentials"},
    403: {"description": "the caller lacks the permission"},
    404: {"description": "no such model served"},
    413: {"description": "body or batch too large"},
    422: {"description": "input refused by the model's schema (names the field and row)"},
    409: {"description": "a registry rule refused, or the prediction already has its reward"},
    429: {"description": "rate limit; retry after Retry-After seconds"},
    504: {"description": "the model took longer than the request timeout"},
}


def _add_model_routes(app: FastAPI, state: ServerState) -> None:
    from starlette.background import BackgroundTask
    from starlette.responses import JSONResponse

    config, metrics = state.config, state.metrics

    @app.post("/v1/models/{name}/predict", openapi_extra={"requestBody": _RECORDS_BODY}, responses=_ERRORS, tags=["models"])
    async def predict(name: str, request: Request) -> Response:
        """Predicted classes and scores (P(positive class)) for each row; the variant and version that answered."""
        started = time.perf_counter()
        try:
            served, route, served_version = await _prepare(state, request, name)
            valid = await _validated(state, request, served_version)
            try:
                predictions, scores = await _in_time(config.timeout, _predict, served_version, valid.matrix)
            except Exception:
                state.router.observe(name, served_version.version, latency_seconds=time.perf_counter() - started, error=True)
                raise
        except _Refusal as refusal:
            return _refused(state, refusal, "predict", name, started)
        elapsed = time.perf_counter() - started
        state.router.observe(name, served_version.version, latency_seconds=elapsed, error=False)
        request_id = _remember(state, name, served_version.version)
        if state.capture is not None and config.security:
            state.capture.record(
                request_id=request_id,
                model=name,
                version=served_version.version,
                variant=route.variant,
                rows=valid.rows,
                predictions=predictions,
                scores=scores,
            )
        metrics.variants.labels(name, route.variant, str(served_version.version)).inc()
        metrics.requests.labels("predict", name, "200").inc()
        metrics.latency.labels("predict", name).observe(elapsed)
        shadows = [served.versions[v] for v in route.shadows if v in served.versions]
        task = BackgroundTask(_run_shadows, state, request_id, shadows, valid.matrix, predictions) if shadows else None
        document = {
            "request_id": request_id,
            "model": name,
            "version": served_version.version,
            "variant": route.variant,
            "predictions": predictions,
            "scores": scores,
        }
        headers = {"X-Bastion-Variant": route.variant, "X-Request-Id": request_id}
        return JSONResponse(document, headers=headers, background=task)

    @app.post("/v1/models/{name}/explain", openapi_extra={"requestBody": _RECORDS_BODY}, responses=_ERRORS, tags=["models"])
    async def explain(name: str, request: Request) -> Response:
        """Per-row feature attributions of the score (SHAP for linear and tree models, else permutation-based)."""
        started = time.perf_counter()
        try:
            _, route, served_version = await _prepare(state, request, name)
            valid = await _validated(state, request, served_version)
            explanation = await _in_time(config.timeout, _explain, served_version, valid.matrix)
        except _Refusal as refusal:
            return _refused(state, refusal, "explain", name, started)
        metrics.requests.labels("explain", name, "200").inc()
        metrics.latency.labels("explain", name).observe(time.perf_counter() - started)
        document = {"model": name, "version": served_version.version, "variant": route.variant, **explanation}
        return JSONResponse(document, headers={"X-Bastion-Variant": route.variant})

    @app.post("/v1/feedback", openapi_extra={"requestBody": _FEEDBACK_BODY}, responses=_ERRORS, tags=["models"])
    async def feedback(request: Request) -> Response:
        """A ground-truth label and/or a reward in [0, 1] for an earlier prediction, by its request id."""
        started = time.perf_counter()
        try:
            body = await _json_body(request)
            request_id, label, reward = _feedback_fields(body)
            answered = state.answered.get(request_id)
            if answered is None:
                raise _Refusal(404, f"no recent prediction has request id {request_id!r}", reason="unknown-request")
            model, version = answered
            await _authorize(state, request, Permission.MODEL_PREDICT, model)
            if reward is not None and request_id in state.rewarded:
                raise _Refusal(409, f"request {request_id} already has its reward; send one per prediction", reason="replay")
        except _Refusal as refusal:
            return _refused(state, refusal, "feedback", None, started)
        if reward is not None:
            state.rewarded.add(request_id)
            state.router.reward(model, version, reward)
        if state.capture is not None:
            state.capture.feedback(request_id=request_id, label=label, reward=reward)
        metrics.requests.labels("feedback", model, "202").inc()
        return JSONResponse({"request_id": request_id, "model": model, "version": version, "accepted": True}, status_code=202)

    @app.get("/v1/models", responses=_ERRORS, tags=["models"])
    async def list_models(request: Request) -> Response:
        """The served models the caller may call or read."""
        caller = _caller(state, request)
        visible = [
            _model_summary(served)
            for name, served in sorted(state.catalog.models.items())
            if caller is None or caller.may(Permission.MODEL_PREDICT, name) or caller.may(Permission.MODEL_READ)
        ]
        return JSONResponse({"models": visible})

    @app.get("/v1/models/{name}", responses=_ERRORS, tags=["models"])
    async def describe_model(name: str, request: Request) -> Response:
        """The model's inputs (name, type, example from training, range, categories), classes and served versions."""
        caller = _caller(state, request)
        if caller is not None and not (caller.may(Permission.MODEL_PREDICT, name) or caller.may(Permission.MODEL_READ)):
            return _refused(
                state, await _denial(state, caller, Permission.MODEL_PREDICT, name, "describe"), "describe", name, 0.0
            )
        served = state.catalog.models.get(name)
        if served is None:
            return _refused(state, _not_served(name), "describe", name, 0.0)
        schema = served.primary.schema
        document = {
            **_model_summary(served),
            "inputs": [field.to_dict() for field in schema.inputs],
            "target": schema.target,
            "classes": list(schema.classes),
            "positive_label": schema.positive_label,
        }
        return JSONResponse(document)


def _model_summary(served: ServedModel) -> dict[str, Any]:
    primary = served.primary
    return {
        "name": primary.name,
        "reference": str(served.reference),
        "version": primary.version,
        "stage": primary.stage,
        "package_digest": primary.package_digest,
        "versions": sorted(served.versions),
    }


async def _prepare(state: ServerState, request: Request, name: str) -> tuple[ServedModel, Route, ServedVersion]:
    """Authorization, rate limits, and the route: the served model, the route, and the version that answers."""
    caller = await _authorize(state, request, Permission.MODEL_PREDICT, name)
    if caller is not None:
        for limiter, key, what in ((state.principal_limits, caller.name, "principal"), (state.model_limits, name, "model")):
            wait = limiter.acquire(key)
            if wait is not None:
                retry = max(1, int(wait + 0.999))
                raise _Refusal(
                    429,
                    f"rate limit of the {what} {key!r} reached; retry in {retry}s",
                    reason=f"rate-{what}",
                    headers={"Retry-After": str(retry)},
                )
    served = state.catalog.models.get(name)
    if served is None:
        raise _not_served(name)
    header = state.router.sticky_key(name)
    route = state.router.route(name, key=request.headers.get(header) if header else None)
    version = served.versions.get(route.version)
    if version is None:  # the router chose a version admission refused: the stable one answers
        from bastion.serve.interface import Route
        from bastion.serve.stable import STABLE

        route, version = Route(served.primary.version, STABLE), served.primary
    return served, route, version


async def _validated(state: ServerState, request: Request, version: ServedVersion) -> Any:
    body = await _json_body(request)
    try:
        return version.validator.validate(body)
    except BatchTooLarge as exc:
        raise _Refusal(413, str(exc), reason="batch-size") from None
    except InvalidInput as exc:
        raise _Refusal(422, str(exc), reason="invalid-input", field=exc.field, row=exc.row) from None


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except ValueError:
        raise _Refusal(422, "the body is not JSON; send a JSON object", reason="invalid-input") from None


async def _in_time(timeout: float, function: Callable[..., Any], *args: Any) -> Any:
    future: Awaitable[Any] = run_in_threadpool(function, *args)
    try:
        return await asyncio.wait_for(future, timeout)
    except TimeoutError:
        raise _Refusal(504, f"the model did not answer within {timeout:g}s", reason="timeout") from None
    except (ValueError, TypeError, BastionError) as exc:  # rows the schema allows but the model cannot take (NaN…)
        raise _Refusal(422, f"the model could not score these rows: {exc}", reason="model-error") from None


def _predict(version: ServedVersion, matrix: Any) -> tuple[list[str], list[float | None]]:
    model = version.model
    column = version.positive_column
    if column is not None:
        probabilities = model.predict_proba(matrix)
        classes = model.classes_
        chosen = probabilities.argmax(axis=1)
        return [str(classes[i]) for i in chosen], [float(p) for p in probabilities[:, column]]
    predicted = model.predict(matrix)
    return [str(value) for value in predicted], [None] * len(predicted)


def _explain(version: ServedVersion, matrix: Any) -> dict[str, Any]:
    from bastion.ml.explain import explain

    predictions = version.model.predict(matrix)
    features = [field.name for field in version.schema.inputs]
    result = explain(
        version.model, matrix, predictions, features, max_rows=len(matrix), positive_label=version.schema.positive_label
    ).to_dict()
    return {
        "method": result["method"],
        "features": result["features"],
        "attributions": result["rows"],
        "base_value": result["base_value"],
        "explained_class": result["explained_class"],
        "units": result["units"],
    }


def _run_shadows(state: ServerState, request_id: str, shadows: list[ServedVersion], matrix: Any, answered: list[str]) -> None:
    """Ask the shadow versions after the answer went out; log both answers, return neither."""
    for shadow in shadows:
        started = time.perf_counter()
        try:
            predictions, _ = _predict(shadow, matrix)
        except Exception as exc:  # a failing shadow is the rollout's business, never the caller's
            state.router.observe(shadow.name, shadow.version, latency_seconds=time.perf_counter() - started, error=True)
            _log.warning("shadow %s:%s failed on %s: %s", shadow.name, shadow.version, request_id, exc)
            continue
        state.router.observe(shadow.name, shadow.version, latency_seconds=time.perf_counter() - started, error=False)
        agreement = sum(a == b for a, b in zip(answered, predictions, strict=True)) / len(predictions)
        _log.info(
            "shadow %s:%s request %s: answered %s, shadow %s (agreement %.2f)",
            shadow.name,
            shadow.version,
            request_id,
            answered,
            predictions,
            agreement,
        )


def _remember(state: ServerState, model: str, version: int) -> str:
    request_id = uuid.uuid4().hex
    answered = state.answered
    answered[request_id] = (model, version)
    if len(answered) > _REMEMBERED_REQUESTS:
        forgotten, _ = answered.popitem(last=False)
        state.rewarded.discard(forgotten)
    return request_id


def _feedback_fields(body: Any) -> tuple[str, str | None, float | None]:
    if not isinstance(body, dict) or not isinstance(body.get("request_id"), str):
        raise _Refusal(422, 'expected {"request_id": "...", "label": "...", "reward": 0.0..1.0}', reason="invalid-input")
    label, reward = body.get("label"), body.get("reward")
    if label is not None and not isinstance(label, str):
        raise _Refusal(422, '"label" must be a string (the true class as text)', reason="invalid-input", field="label")
    if reward is not None and (isinstance(reward, bool) or not isinstance(reward, int | float) or not 0.0 <= reward <= 1.0):
        raise _Refusal(422, '"reward" must be a number in [0, 1]', reason="invalid-input", field="reward")
    if label is None and reward is None:
        raise _Refusal(422, 'give a "label", a "reward", or both', reason="invalid-input")
    return body["request_id"], label, None if reward is None else float(reward)


def _not_served(name: str) -> _Refusal:
    return _Refusal(404, f"model {name!r} is not served here; GET /v1/models lists the served ones", reason="not-served")


# --- authorization -------------------------------------------------------------------------------


def _caller(state: ServerState, request: Request) -> Caller | None:
    """The authenticated caller (None only with the security layers off)."""
    caller: Caller | None = request.scope.get("state", {}).get("caller")
    return caller


async def _authorize(state: ServerState, request: Request, permission: Permission, model: str | None) -> Caller | None:
    caller = _caller(state, request)
    if caller is None or caller.may(permission, model):
        return caller
    raise await _denial(state, caller, permission, model, request.url.path)


async def _denial(state: ServerState, caller: Caller, permission: Permission, model: str | None, where: str) -> _Refusal:
    from bastion.audit import record

    details = {"permission": permission.value, "route": where, "roles": list(caller.roles), "via": "serve"}
    await run_in_threadpool(record, "permission.denied", target=model, outcome="deny", details=details, actor=caller.name)
    roles = ", ".join(caller.roles) or "no role"
    scope = f" on model {model}" if model else ""
    return _Refusal(403, f"permission denied: {caller.name} ({roles}) lacks {permission.value}{scope}", reason="forbidden")


def _refused(state: ServerState, refusal: _Refusal, route: str, model: str | None, started: float) -> Response:
    from starlette.responses import JSONResponse

    state.metrics.rejections.labels(refusal.reason).inc()
    state.metrics.requests.labels(route, model or "", str(refusal.status)).inc()
    if started:
        state.metrics.latency.labels(route, model or "").observe(time.perf_counter() - started)
    return JSONResponse({"detail": refusal.detail, **refusal.extra}, status_code=refusal.status, headers=refusal.headers)


# --- registry ------------------------------------------------------------------------------------


def _add_registry_routes(app: FastAPI, state: ServerState) -> None:
    from starlette.responses import JSONResponse

    from bastion.registry import AuthenticationFailed, PermissionDenied, RegistryError, Stage

    async def call(request: Request, operation: Callable[..., Any], *args: Any, **kwargs: Any) -> Response:
        """Run a registry service operation as the caller: the service checks the permission and audits."""
        caller = _caller(state, request)
        if caller is None or caller.principal is None:
            refusal = _Refusal(
                403, "registry operations need a registry API token (bst_…), not an OIDC token", reason="forbidden"
            )
            return _refused(state, refusal, "registry", None, 0.0)
        try:
            result = await run_in_threadpool(operation, caller.principal, *args, **kwargs)
        except AuthenticationFailed as exc:
            return _refused(state, _Refusal(401, str(exc), reason="unauthenticated"), "registry", None, 0.0)
        except PermissionDenied as exc:
            return _refused(state, _Refusal(403, str(exc), reason="forbidden"), "registry", None, 0.0)
        except RegistryError as exc:
            return _refused(state, _Refusal(409, str(exc), reason="registry-rule"), "registry", None, 0.0)
        if result is None:
            return JSONResponse({"ok": True})
        if isinstance(result, list):
            return JSONResponse([item.to_dict() for item in result])
        return JSONResponse(result.to_dict())

    registry = state.registry
    stages = [stage.value for stage in Stage]

    @app.get("/v1/registry/models", responses=_ERRORS, tags=["registry"])
    async def registry_list(request: Request) -> Response:
        """Every registered model with its versions (model.read)."""
        return await call(request, registry.list_models)

    @app.get("/v1/registry/models/{name}", responses=_ERRORS, tags=["registry"])
    async def registry_show(name: str, request: Request) -> Response:
        """One model with its versions and aliases (model.read)."""
        return await call(request, registry.show_model, name)

    @app.get("/v1/registry/models/{name}/versions/{version}", responses=_ERRORS, tags=["registry"])
    async def registry_version(name: str, version: str, request: Request) -> Response:
        """One version, by number or alias (model.read)."""
        return await call(request, registry.show_version, name, version)

    @app.get("/v1/registry/models/{name}/history", responses=_ERRORS, tags=["registry"])
    async def registry_history(name: str, request: Request) -> Response:
        """Every status, stage and alias change of the model's versions (model.read)."""
        return await call(request, registry.history, name)

    def decision_route(decision: str, method: Callable[..., None]) -> None:
        async def decide(
            name: str,
            version: int,
            request: Request,
            stage: str = Body("prod", embed=True, json_schema_extra={"enum": ["staging", "prod"]}),
            comment: str = Body("", embed=True, max_length=2000),
        ) -> Response:
            if stage not in ("staging", "prod"):
                return _refused(
                    state, _Refusal(422, "stage must be staging or prod", reason="invalid-input"), "registry", None, 0.0
                )
            return await call(request, method, name, version, stage=Stage(stage), comment=comment)

        summary = f"{decision.capitalize()} a version for a stage (model.approve.STAGE)"
        route = f"/v1/registry/models/{{name}}/versions/{{version}}/{decision}"
        app.post(route, responses=_ERRORS, tags=["registry"], summary=summary, name=f"registry_{decision}")(decide)

    decision_route("approve", registry.approve)
    decision_route("reject", registry.reject)

    @app.post("/v1/registry/models/{name}/versions/{version}/promote", responses=_ERRORS, tags=["registry"])
    async def registry_promote(
        name: str,
        version: int,
        request: Request,
        to: str = Body(..., embed=True, json_schema_extra={"enum": stages}),
        comment: str = Body("", embed=True, max_length=2000),
    ) -> Response:
        """Move a version one stage forward, or archive it (model.promote)."""
        if to not in stages:
            return _refused(
                state, _Refusal(422, f"to must be one of {', '.join(stages)}", reason="invalid-input"), "registry", None, 0.0
            )
        return await call(request, registry.promote, name, version, Stage(to), comment=comment)

    @app.put("/v1/registry/models/{name}/aliases/{alias}", responses=_ERRORS, tags=["registry"])
    async def registry_alias(name: str, alias: str, request: Request, version: int = Body(..., embed=True)) -> Response:
        """Point an alias at a version (model.promote)."""
        return await call(request, registry.set_alias, name, alias, version)

    @app.delete("/v1/registry/models/{name}/aliases/{alias}", responses=_ERRORS, tags=["registry"])
    async def registry_remove_alias(name: str, alias: str, request: Request) -> Response:
        """Remove an alias (model.promote)."""
        return await call(request, registry.remove_alias, name, alias)


# --- operations ----------------------------------------------------------------------------------


def _add_operational_routes(app: FastAPI, state: ServerState) -> None:
    from starlette.responses import JSONResponse

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> Response:
        """The process is up (no credentials needed)."""
        return JSONResponse({"status": "ok"})

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> Response:
        """Every model asked for is loaded (503 otherwise; no credentials needed)."""
        missing = [str(ref) for ref in state.config.models if ref.name not in state.catalog.models]
        if missing:
            return JSONResponse({"status": "not ready", "missing": missing}, status_code=503)
        return JSONResponse({"status": "ready", "models": sorted(state.catalog.models)})

    @app.get("/metrics", tags=["operations"], responses=_ERRORS)
    async def metrics(request: Request) -> Response:
        """Prometheus metrics (model.read, or no credentials with --public-metrics)."""
        if not state.config.public_metrics:
            try:
                await _authorize(state, request, Permission.MODEL_READ, None)
            except _Refusal as refusal:
                return _refused(state, refusal, "metrics", None, 0.0)
        return Response(state.metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")
