"""Who is calling: registry API tokens (``bst_…``) and OIDC bearer JWTs checked against the provider's JWKS (signature,
issuer, audience, expiry), the token's groups mapped to registry roles. Deny by default: a caller holds only the
permissions of its roles, and a request with no valid credentials is refused and audited.

A verified token is remembered for ``token_cache_seconds`` (and never past a JWT's expiry), so the hot path does not
query the registry on every request; a revoked token stops working within that delay.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.core import BastionError
from bastion.registry.tokens import PREFIX as TOKEN_PREFIX

if TYPE_CHECKING:
    from bastion.registry import Principal, Registry
    from bastion.serve.config import OidcSettings

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
"""Asymmetric algorithms only: a JWKS holds public keys, and 'none' or HMAC with a public key must never verify."""
_CACHE_SIZE = 10_000
_JWKS_REFRESH_SECONDS = 30.0
"""A JWKS URL is fetched again for an unknown key id (the provider rotated its keys), at most this often."""


class AuthenticationError(BastionError):
    """No credentials, or credentials that do not verify: 401."""


@dataclass(frozen=True)
class Caller:
    """An authenticated caller."""

    name: str
    """The registry user, or ``oidc:<sub>`` for a JWT."""
    roles: tuple[str, ...]
    """The registry roles it holds."""
    permissions: frozenset[str]
    """The union of its roles' permissions (``model.predict`` for every model, ``model.predict:NAME`` for one)."""
    principal: Principal | None
    """The registry principal, for registry API tokens (the registry operations need one); None for JWTs."""

    def may(self, permission: str, model: str | None = None) -> bool:
        """Whether the caller holds ``permission``, for every model or for ``model``."""
        return permission in self.permissions or (model is not None and f"{permission}:{model}" in self.permissions)


class Authenticator:
    """Verifies bearer credentials, with a short cache of verified ones."""

    def __init__(self, registry: Registry, oidc: OidcSettings | None, *, cache_seconds: float) -> None:
        self._registry = registry
        self._oidc = oidc
        self._jwks = _Jwks(oidc.jwks) if oidc is not None else None
        self._cache_seconds = cache_seconds
        self._cache: OrderedDict[str, tuple[Caller, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._pending: dict[str, asyncio.Future[Caller]] = {}

    def cached(self, authorization: str | None) -> Caller | None:
        """The caller behind ``authorization`` if it was verified recently (no I/O: the hot path)."""
        token = _bearer(authorization)
        if token is None:
            return None
        key = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            entry = self._cache.get(key)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    async def verify(self, authorization: str | None) -> Caller:
        """``authenticate`` off the event loop, once for all the requests that present the same credentials while it
        runs (when a busy caller's cache entry expires, its concurrent requests wait for one check, not one each)."""
        from starlette.concurrency import run_in_threadpool

        key = hashlib.sha256((authorization or "").encode()).hexdigest()
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(run_in_threadpool(self.authenticate, authorization))
            self._pending[key] = pending
            pending.add_done_callback(lambda _: self._pending.pop(key, None))
        return await asyncio.shield(pending)

    def authenticate(self, authorization: str | None) -> Caller:
        """Verify ``authorization`` (``Bearer TOKEN``); ``AuthenticationError`` (audited) when it does not verify.
        May query the registry or fetch the JWKS: call it off the event loop."""
        token = _bearer(authorization)
        if token is None:
            _audit_failure("no bearer token", "none")
            raise AuthenticationError("no credentials; send 'Authorization: Bearer TOKEN' (a registry API token or an OIDC JWT)")
        if token.startswith(TOKEN_PREFIX):
            caller, lifetime = self._registry_caller(token), self._cache_seconds
        else:
            caller, expiry = self._jwt_caller(token)
            lifetime = min(self._cache_seconds, expiry - time.time())
        key = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            self._cache[key] = (caller, time.monotonic() + lifetime)
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return caller

    def _registry_caller(self, token: str) -> Caller:
        from bastion.registry import AuthenticationFailed

        try:
            principal = self._registry.authenticate(token)  # audits its own failures
        except AuthenticationFailed as exc:
            raise AuthenticationError(str(exc)) from None
        return Caller(principal.name, principal.roles, principal.permissions, principal)

    def _jwt_caller(self, token: str) -> tuple[Caller, float]:
        import jwt

        if self._oidc is None or self._jwks is None:
            _audit_failure("a JWT, but no OIDC issuer is configured", "oidc")
            raise AuthenticationError("not a registry API token, and this server accepts no OIDC tokens (--oidc-issuer)")
        oidc = self._oidc
        try:
            key = self._jwks.key_for(jwt.get_unverified_header(token).get("kid"))
            claims = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=oidc.audience,
                issuer=oidc.issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
                leeway=5,
            )
        except (jwt.PyJWTError, AuthenticationError) as exc:
            reason = str(exc) or type(exc).__name__
            _audit_failure(reason, "oidc")
            raise AuthenticationError(f"the bearer JWT was refused: {reason}") from None
        groups = claims.get(oidc.roles_claim, [])
        groups = [groups] if isinstance(groups, str) else groups if isinstance(groups, list) else []
        granted = self._role_permissions()
        roles = tuple(sorted({group for group in groups if isinstance(group, str) and group in granted}))
        permissions = frozenset(permission for role in roles for permission in granted[role])
        return Caller(f"oidc:{claims['sub']}", roles, permissions, None), float(claims["exp"])

    def _role_permissions(self) -> Mapping[str, frozenset[str]]:
        from sqlalchemy import select
        from sqlalchemy.orm import Session

        from bastion.registry.schema import Role

        with Session(self._registry.engine) as session, session.begin():
            return {role.name: frozenset(p.name for p in role.permissions) for role in session.scalars(select(Role))}


class _Jwks:
    """The provider's public keys: a file read at start, or a URL fetched at start and again for an unknown key id."""

    def __init__(self, source: str) -> None:
        self._source = source
        self._keys: dict[str | None, Any] = {}
        self._load()
        self._loaded_at = time.monotonic()

    def key_for(self, kid: object) -> Any:
        if not isinstance(kid, str | None):
            raise AuthenticationError("the JWT header's kid is not a string")
        refresh_due = time.monotonic() - self._loaded_at >= _JWKS_REFRESH_SECONDS
        if kid not in self._keys and self._source.startswith(("http://", "https://")) and refresh_due:
            # At most one fetch per interval: tokens with made-up key ids must not make every request a fetch.
            self._loaded_at = time.monotonic()
            try:
                self._load()
            except BastionError as exc:  # the provider is down: this token is refused, the server stays up
                raise AuthenticationError(str(exc)) from None
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        if kid not in self._keys:
            raise AuthenticationError(f"no key {kid!r} in the JWKS")
        return self._keys[kid]

    def _load(self) -> None:
        import jwt

        try:
            if self._source.startswith(("http://", "https://")):
                import urllib.request

                with urllib.request.urlopen(self._source, timeout=10) as response:  # the operator's configured JWKS
                    document = json.loads(response.read())
            else:
                document = json.loads(Path(self._source).read_bytes())
            key_set = jwt.PyJWKSet.from_dict(document)
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            raise BastionError(f"{self._source}: cannot read the JWKS ({exc}); give a JWKS file or URL (--oidc-jwks)") from None
        self._keys = {key.key_id: key.key for key in key_set.keys}


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _audit_failure(reason: str, method: str) -> None:
    from bastion.audit import record
    from bastion.registry.service import ANONYMOUS

    record("login.failed", actor=ANONYMOUS, outcome="deny", details={"reason": reason, "method": method, "via": "serve"})
