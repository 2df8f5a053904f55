"""Serving: admission by signature, approval and scan; authentication, limits and validation; rollouts; capture.

The public names load on first use: ``bastion deploy`` and ``bastion predict`` import this package without paying
for FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bastion.core.lazy import lazy_attributes

if TYPE_CHECKING:
    from bastion.serve._server import AdmissionFailed, build_state
    from bastion.serve.admission import AdmissionRefused, ServedVersion, VersionRecord, admit, resolve, version_record
    from bastion.serve.app import ServerState, create_app
    from bastion.serve.auth import AuthenticationError, Authenticator, Caller
    from bastion.serve.config import ModelReference, OidcSettings, Rate, ServeConfig
    from bastion.serve.interface import CaptureSink, Route, Router
    from bastion.serve.stable import StableRouter
    from bastion.serve.validation import BatchTooLarge, InvalidInput, RequestValidator

_PUBLIC = {
    "AdmissionFailed": "bastion.serve._server",
    "build_state": "bastion.serve._server",
    "AdmissionRefused": "bastion.serve.admission",
    "ServedVersion": "bastion.serve.admission",
    "VersionRecord": "bastion.serve.admission",
    "admit": "bastion.serve.admission",
    "resolve": "bastion.serve.admission",
    "version_record": "bastion.serve.admission",
    "ServerState": "bastion.serve.app",
    "create_app": "bastion.serve.app",
    "AuthenticationError": "bastion.serve.auth",
    "Authenticator": "bastion.serve.auth",
    "Caller": "bastion.serve.auth",
    "ModelReference": "bastion.serve.config",
    "OidcSettings": "bastion.serve.config",
    "Rate": "bastion.serve.config",
    "ServeConfig": "bastion.serve.config",
    "CaptureSink": "bastion.serve.interface",
    "Route": "bastion.serve.interface",
    "Router": "bastion.serve.interface",
    "StableRouter": "bastion.serve.stable",
    "BatchTooLarge": "bastion.serve.validation",
    "InvalidInput": "bastion.serve.validation",
    "RequestValidator": "bastion.serve.validation",
}

__getattr__ = lazy_attributes(__name__, _PUBLIC)

__all__ = [
    "AdmissionFailed",
    "AdmissionRefused",
    "AuthenticationError",
    "Authenticator",
    "BatchTooLarge",
    "Caller",
    "CaptureSink",
    "InvalidInput",
    "ModelReference",
    "OidcSettings",
    "Rate",
    "RequestValidator",
    "Route",
    "Router",
    "ServeConfig",
    "ServedVersion",
    "ServerState",
    "StableRouter",
    "VersionRecord",
    "admit",
    "build_state",
    "create_app",
    "resolve",
    "version_record",
]
