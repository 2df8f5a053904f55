"""The store's file system (any fsspec one) and the few writes that must be atomic and exclusive on it.

On a local directory, an exclusive write is a temporary file, fsynced, then ``os.link``ed to its name
(the link fails if the name exists, so a concurrent writer can never replace it). On S3, small
documents are written with ``If-None-Match: *``; blobs are uploaded under a temporary key and copied
to their address only if nothing is there yet (S3 has no conditional copy: two writers of the same
content at the same instant may both copy, which leaves one complete, equivalent blob).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from bastion.core import atomic_write, bastion_home
from bastion.store.errors import StoreError

STORE_URL_VARIABLE = "BASTION_STORE_URL"
_REMOTE_BLOCK = 8 << 20
"""Buffer of remote reads and multipart uploads: bounded memory for blobs of any size."""


def open_filesystem(url: str | None) -> tuple[Any, str, str]:
    """The fsspec file system, the root path on it, and the location to show users."""
    import fsspec

    location = url or os.environ.get(STORE_URL_VARIABLE) or str(bastion_home() / "store")
    # A new file system object each time: fsspec's instance cache would ignore a changed endpoint or credentials.
    options: dict[str, Any] = {"skip_instance_cache": True}
    if location.startswith(("s3://", "s3a://")):
        # An unreachable endpoint should cost seconds, not botocore's legacy retries (AWS_MAX_ATTEMPTS still applies).
        options["config_kwargs"] = {"connect_timeout": 10, "retries": {"mode": "standard"}}
    try:
        fs, root = fsspec.core.url_to_fs(location, **options)
    except ImportError as exc:
        raise StoreError(f"{STORE_URL_VARIABLE}={location}: {exc} (for S3: pip install 'bastion-mlsecops[s3]')") from None
    except ValueError as exc:
        raise StoreError(f"{STORE_URL_VARIABLE}={location}: not a store URL ({exc})") from None
    return fs, root.rstrip("/"), location


def is_local(fs: Any) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


@contextlib.contextmanager
def open_temporary(fs: Any, path: str) -> Iterator[IO[bytes]]:
    """A new file at ``path`` for one writer, fsynced when the block ends and removed if it fails."""
    try:
        if is_local(fs):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "xb") as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
        else:
            with fs.open(path, "wb", block_size=_REMOTE_BLOCK) as handle:
                yield handle
    except BaseException:
        with contextlib.suppress(OSError, FileNotFoundError):
            fs.rm_file(path)
        raise


def open_read(fs: Any, path: str) -> IO[bytes]:
    if is_local(fs):
        return open(path, "rb")
    return fs.open(path, "rb", block_size=_REMOTE_BLOCK)  # type: ignore[no-any-return]


def commit(fs: Any, temporary: str, path: str) -> bool:
    """Move ``temporary`` to ``path`` unless ``path`` exists; False (and ``temporary`` removed) if it did."""
    try:
        if is_local(fs):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.chmod(temporary, 0o444)  # immutable content; the store's API refuses to change it too
            try:
                os.link(temporary, path)
            except FileExistsError:
                return False
            _fsync_directory(os.path.dirname(path))
            return True
        if fs.exists(path):
            return False
        fs.mv(temporary, path)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            fs.rm_file(temporary)


def write_document(fs: Any, path: str, data: bytes, *, exclusive: bool) -> bool:
    """Write a small document whole; with ``exclusive``, only if ``path`` does not exist (False if it did)."""
    if is_local(fs):
        directory = os.path.dirname(path)
        os.makedirs(directory, exist_ok=True)
        if not exclusive:
            atomic_write(path, data)
            return True
        fd, temporary = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temporary, path)
        except FileExistsError:
            return False
        finally:
            os.unlink(temporary)
        _fsync_directory(directory)
        return True
    if not exclusive:
        fs.pipe_file(path, data)
        return True
    if "s3" not in fs.protocol:
        # Other object stores: no conditional write through fsspec, so check first (a narrow race).
        if fs.exists(path):
            return False
        fs.pipe_file(path, data)
        return True
    try:
        fs.pipe_file(path, data, IfNoneMatch="*")
    except OSError as exc:
        if "pre-condition" in str(exc) or "PreconditionFailed" in str(exc):
            return False
        raise
    return True


def _fsync_directory(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
