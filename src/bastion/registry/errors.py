"""The registry's errors: a rule refused the operation, or the principal may not perform it."""

from __future__ import annotations

from bastion.core import BastionError


class RegistryError(BastionError):
    """A registry rule refused the operation (unsigned package, self-approval, unknown model, …); exit status 1."""

    exit_code = 1


class AccessDenied(RegistryError):
    """No valid token, or the principal lacks the permission; exit status 3."""

    exit_code = 3


class AuthenticationFailed(AccessDenied):
    """The token is missing, unknown, expired or revoked."""


class PermissionDenied(AccessDenied):
    """The principal is authenticated but lacks the permission named in ``permission``."""

    def __init__(self, message: str, *, permission: str) -> None:
        super().__init__(message)
        self.permission = permission
