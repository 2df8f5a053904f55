"""Artifact URIs: checked after full percent-decoding against the allowed roots (MLflow's path traversal, not again).

A URI is decoded until decoding changes nothing (``%252e`` is ``%2e`` is ``.``), and then refused when it holds a
``..`` or ``.`` segment, a backslash, a NUL or another control character, when its scheme is not one of the roots'
schemes, or when it does not lie below a root. Local paths are also compared after resolving symbolic links, so a link
inside a root cannot lead out of it.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from bastion.core import bastion_home
from bastion.registry.errors import RegistryError

ROOTS_VARIABLE = "BASTION_ARTIFACT_ROOTS"
_MAX_DECODINGS = 8


def allowed_roots() -> tuple[str, ...]:
    """``$BASTION_ARTIFACT_ROOTS`` (separated by ``os.pathsep``; directories or ``s3://bucket/prefix``), or the working
    directory and BASTION_HOME."""
    configured = os.environ.get(ROOTS_VARIABLE)
    if configured:
        return tuple(root for root in configured.split(os.pathsep) if root)
    return (str(Path.cwd()), str(bastion_home().resolve()))


def validate_artifact_uri(uri: str, roots: tuple[str, ...] | None = None) -> str:
    """The canonical form of ``uri`` (``file:///abs/path`` for local files) when it lies below one of ``roots``
    (default ``allowed_roots()``); a ``RegistryError`` naming the problem otherwise."""
    roots = allowed_roots() if roots is None else roots
    decoded = _fully_decoded(uri)
    if any(ord(c) < 0x20 or c in "\\\x7f" for c in decoded):
        raise RegistryError(f"artifact URI {uri!r}: control characters or backslashes are not allowed")
    scheme, path = _scheme_and_path(decoded)
    if any(part in ("..", ".") for part in path.split("/")):
        raise RegistryError(f"artifact URI {uri!r}: '..' and '.' segments are not allowed (after decoding: {decoded!r})")
    for root in roots:
        root_scheme, root_path = _scheme_and_path(_fully_decoded(root))
        if root_scheme != scheme:
            continue
        if scheme == "file":
            real, real_root = os.path.realpath(path), os.path.realpath(root_path)
            if os.path.isabs(path) and (real == real_root or real.startswith(real_root.rstrip("/") + "/")):
                return Path(real).as_uri()
        elif PurePosixPath(path).is_relative_to(PurePosixPath(root_path)) and root_path:
            return f"{scheme}://{path}"
    schemes = sorted({_scheme_and_path(root)[0] for root in roots})
    raise RegistryError(
        f"artifact URI {uri!r} is outside the allowed roots ({', '.join(roots) or 'none'}; schemes {', '.join(schemes)}); "
        f"move the package below one or set {ROOTS_VARIABLE}"
    )


def _fully_decoded(text: str) -> str:
    for _ in range(_MAX_DECODINGS):
        try:
            decoded = unquote(text, errors="strict")
        except UnicodeDecodeError:
            raise RegistryError(f"artifact URI {text!r}: percent-encodes bytes that are not UTF-8") from None
        if decoded == text:
            return decoded
        text = decoded
    raise RegistryError(f"artifact URI {text!r}: encoded more than {_MAX_DECODINGS} times; refusing it")


def _scheme_and_path(decoded: str) -> tuple[str, str]:
    """(scheme, path) with ``file`` for plain paths; for other schemes the path is ``netloc/path``."""
    if "://" not in decoded and not decoded.startswith("file:"):
        return "file", decoded
    parts = urlsplit(decoded)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise RegistryError(f"artifact URI {decoded!r}: file URIs on another host are not allowed")
        return "file", parts.path
    if parts.query or parts.fragment:
        raise RegistryError(f"artifact URI {decoded!r}: queries and fragments are not allowed")
    return scheme, f"{parts.netloc}{parts.path}"
