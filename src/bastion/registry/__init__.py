"""The model registry: versions of signed, scanned packages, approvals with separation of duties, stage promotion,
aliases, an append-only history, and users, roles and API tokens with least-privilege permissions."""

from bastion.registry.admission import REFUSED_AT, AdmittedPackage, TrustedSigner, admit_package, verify_package_signature
from bastion.registry.database import URL_VARIABLE, database_url, open_engine
from bastion.registry.errors import AccessDenied, AuthenticationFailed, PermissionDenied, RegistryError
from bastion.registry.service import Registry, approval_problem
from bastion.registry.uris import ROOTS_VARIABLE, allowed_roots, validate_artifact_uri
from bastion.registry.views import ApprovalView, HistoryView, IssuedToken, ModelView, Principal, VersionView
from bastion.registry.vocabulary import Decision, Permission, Stage, Status

__all__ = [
    "REFUSED_AT",
    "ROOTS_VARIABLE",
    "URL_VARIABLE",
    "AccessDenied",
    "AdmittedPackage",
    "ApprovalView",
    "AuthenticationFailed",
    "Decision",
    "HistoryView",
    "IssuedToken",
    "ModelView",
    "Permission",
    "PermissionDenied",
    "Principal",
    "Registry",
    "RegistryError",
    "Stage",
    "Status",
    "TrustedSigner",
    "VersionView",
    "admit_package",
    "allowed_roots",
    "approval_problem",
    "database_url",
    "open_engine",
    "validate_artifact_uri",
    "verify_package_signature",
]
