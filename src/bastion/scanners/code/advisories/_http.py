"""HTTP for advisory sources: the standard library's client, bounded in time and size."""

from __future__ import annotations

import json
from typing import IO, Any

from bastion import __version__

TIMEOUT = 30.0
"""Seconds to wait for a server to answer or send more bytes."""
_USER_AGENT = f"bastion/{__version__}"
_MAX_JSON = 64 * 1024 * 1024


class HttpError(Exception):
    """The request failed; the message says why in a few words."""


def _open(url: str, body: bytes | None = None) -> Any:
    import urllib.error
    import urllib.request  # some 80 ms: loaded only when a request is made

    if not url.startswith(("https://", "http://")):
        raise HttpError(f"{url}: only http(s) URLs are supported")
    headers = {"User-Agent": _USER_AGENT}
    if body is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST" if body is not None else "GET")
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT)  # the scheme is checked above
    except urllib.error.HTTPError as exc:
        raise HttpError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise HttpError(str(exc.reason)) from None
    except (OSError, ValueError) as exc:
        raise HttpError(str(exc)) from None


def _open_local(url: str) -> IO[bytes]:
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise HttpError(f"{url}: a file URL names a path on this machine (file:///path)")
    return open(unquote(parts.path), "rb")


def get_json(url: str, body: Any = None) -> Any:
    """GET ``url`` (POST ``body`` as JSON when given) and decode the JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    try:
        with _open(url, data) as response:
            content = response.read(_MAX_JSON + 1)
    except OSError as exc:
        raise HttpError(str(exc)) from None
    if len(content) > _MAX_JSON:
        raise HttpError(f"answer larger than {_MAX_JSON >> 20} MiB")
    try:
        return json.loads(content)
    except ValueError:
        raise HttpError("the answer is not JSON") from None


def download(url: str, destination: IO[bytes], *, limit: int) -> int:
    """Stream ``url`` into ``destination``, at most ``limit`` bytes; the number of bytes written.

    ``file://`` URLs are read from disk: air-gapped teams carry the archives in on removable media.
    """
    written = 0
    try:
        with _open_local(url) if url.startswith("file://") else _open(url) as response:
            while chunk := response.read(1 << 20):
                written += len(chunk)
                if written > limit:
                    raise HttpError(f"larger than {limit >> 20} MiB")
                destination.write(chunk)
    except OSError as exc:
        raise HttpError(str(exc)) from None
    return written
