"""User code in a child process: scrubbed environment, resource limits, a timeout and, where Linux allows, no network.

The network goes by giving the child its own network namespace (``unshare(CLONE_NEWNET)``; without
privileges, inside a new user namespace) between fork and exec: it then has only a loopback interface
that is down, so no network connection leaves it. The file system is not confined: the child runs as the
same user, so it can read what that user can (``BASTION_HOME`` included) and connect to Unix sockets that
have a path (a database's, a container daemon's). Where no namespace can be made, the run goes on
only if the caller allows it, and the report says that isolation was not applied and why.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bastion.core.errors import BastionError

_CLONE_NEWNET = 0x40000000
_CLONE_NEWUSER = 0x10000000
# Credentials are never handed to user code, even when a caller lists them in keep_environment.
_CREDENTIALS = re.compile(r"(AWS|GOOGLE|GCLOUD|AZURE|ARM|VAULT|BAO|BASTION)_.*|.*(TOKEN|SECRET|PASSWORD|CREDENTIALS?)(_.*)?")
# Root may make a network namespace directly; anyone else inside a user namespace of their own.
_NAMESPACE_CALLS = (
    (_CLONE_NEWNET, "unshare(CLONE_NEWNET)"),
    (_CLONE_NEWUSER | _CLONE_NEWNET, "unshare(CLONE_NEWUSER|CLONE_NEWNET)"),
)
_TAIL_BYTES = 64 * 1024
_MAX_MESSAGE = 500


@dataclass(frozen=True)
class Isolation:
    """How a child is confined."""

    network: bool = False
    """``False``: the child gets its own network namespace (no network at all); ``True``: it shares ours."""
    memory_bytes: int | None = 4 * 2**30
    """Limit of the child's address space (``RLIMIT_AS``); ``None`` for none."""
    cpu_seconds: int | None = 3600
    """Limit of the child's CPU time (``RLIMIT_CPU``); ``None`` for none."""
    timeout_seconds: float | None = 3600
    """Wall-clock time after which the child and everything it started are killed; ``None`` for none."""
    keep_environment: tuple[str, ...] = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "PYTHONPATH")
    """Environment variables the child inherits; everything else (and any credential) is dropped."""
    require_network_isolation: bool = False
    """``True``: refuse to run when the network cannot be taken away (with ``network=False``)."""


@dataclass(frozen=True)
class IsolationReport:
    """How a child was actually confined."""

    network_isolated: bool
    """Whether the child ran in its own network namespace."""
    reason: str | None
    """Why not, when not (``"network allowed by the configuration"``, ``"unshare(CLONE_NEWNET) failed: …"``)."""
    dropped_environment: tuple[str, ...]
    """Names of the variables the child did not inherit (never their values)."""
    memory_bytes: int | None
    """The address-space limit applied, if any."""
    cpu_seconds: int | None
    """The CPU-time limit applied, if any."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "network_isolated": self.network_isolated,
            "reason": self.reason,
            "dropped_environment": list(self.dropped_environment),
            "memory_bytes": self.memory_bytes,
            "cpu_seconds": self.cpu_seconds,
        }


class SandboxError(BastionError):
    """The child failed: the message is one line with the user's exception type and message."""


def run_sandboxed(argv: Sequence[str], isolation: Isolation, *, cwd: Path, log: Path | None = None) -> IsolationReport:
    """Run ``argv`` in ``cwd`` under ``isolation``; how it was confined, or ``SandboxError`` when it failed.

    The child's output (stdout and stderr together) goes to ``log`` when given, for debugging; the error
    message is its last unindented line (a Python child's exception, without the traceback above it).
    """
    environment, dropped = _scrub(os.environ, isolation.keep_environment)
    # Unbuffered, a Python child's exception is the last thing in its output, after anything it printed.
    environment["PYTHONUNBUFFERED"] = "1"
    with _output(log) as output:
        outcome_read, outcome_write = os.pipe()
        try:
            try:
                child = subprocess.Popen(
                    list(argv),
                    cwd=cwd,
                    env=environment,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # one process group: a timeout kills whatever the child started
                    preexec_fn=_confine(isolation, outcome_write),
                )
            finally:
                os.close(outcome_write)  # the child's copy closed at exec: reading below ends there
            failure = _read_outcome(outcome_read)
        except subprocess.SubprocessError:
            # _confine raised in the child: the namespace was required and could not be made.
            raise SandboxError(f"network isolation is required but unavailable: {_read_outcome(outcome_read)}") from None
        except OSError as exc:
            raise SandboxError(f"cannot start {argv[0]}: {exc.strerror or exc}") from None
        finally:
            os.close(outcome_read)
        status = _wait(child, isolation.timeout_seconds)
        if status != 0:
            raise SandboxError(_failure_message(status, isolation, output))
    if isolation.network:
        reason: str | None = "network allowed by the configuration"
    else:
        reason = failure or None
    return IsolationReport(
        network_isolated=not isolation.network and not failure,
        reason=reason,
        dropped_environment=dropped,
        memory_bytes=isolation.memory_bytes,
        cpu_seconds=isolation.cpu_seconds,
    )


def _scrub(environment: Mapping[str, str], keep: Sequence[str]) -> tuple[dict[str, str], tuple[str, ...]]:
    kept = {name: value for name, value in environment.items() if name in keep and not _CREDENTIALS.fullmatch(name)}
    return kept, tuple(sorted(set(environment) - set(kept)))


@contextlib.contextmanager
def _output(log: Path | None) -> Iterator[IO[bytes]]:
    if log is not None:
        with log.open("w+b") as handle:
            yield handle
    else:
        with tempfile.TemporaryFile() as handle:
            yield handle


def _confine(isolation: Isolation, outcome: int) -> Callable[[], None]:
    """The function the child runs between fork and exec; it writes why the network stays, if it does, to ``outcome``."""
    import ctypes
    import resource

    unshare = ctypes.CDLL(None, use_errno=True).unshare  # looked up before the fork: the child only calls it

    def confine() -> None:
        if isolation.memory_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (isolation.memory_bytes, isolation.memory_bytes))
        if isolation.cpu_seconds is not None:
            # A hard limit one second later: SIGXCPU (which names the cause) arrives before SIGKILL.
            resource.setrlimit(resource.RLIMIT_CPU, (isolation.cpu_seconds, isolation.cpu_seconds + 1))
        if isolation.network:
            return
        failures = []
        for flags, call in _NAMESPACE_CALLS:
            if unshare(flags) == 0:
                return
            errno = ctypes.get_errno()
            failures.append(f"{call} failed: {os.strerror(errno)}")
        os.write(outcome, "; ".join(failures).encode())
        if isolation.require_network_isolation:
            raise OSError("network isolation unavailable")

    return confine


def _read_outcome(fd: int) -> str:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def _wait(child: subprocess.Popen[bytes], timeout: float | None) -> int:
    """The child's exit status (negative: the signal that ended it); ``SandboxError`` when it overran ``timeout``.

    However the child ends, whatever it started in its process group is killed: a process left running in the
    background would outlive the timeout and the limits, and could change the child's outputs after they were checked.
    """
    try:
        status = child.wait(timeout)
    except BaseException as exc:  # the timeout, or Ctrl-C: nothing the child started may outlive us
        _kill_group(child.pid)
        child.wait()
        if isinstance(exc, subprocess.TimeoutExpired):
            raise SandboxError(f"the child did not finish within {timeout:g} s and was killed") from None
        raise
    _kill_group(child.pid)
    return status


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _failure_message(status: int, isolation: Isolation, output: IO[bytes]) -> str:
    if status == -signal.SIGXCPU:
        return f"the child used up its CPU time limit of {isolation.cpu_seconds} s and was killed"
    line = _last_unindented_line(output)
    if status < 0:
        name = signal.Signals(-status).name
        return f"the child was killed by {name}" + (f" after: {line}" if line else "")
    return line or f"the child exited with status {status} and printed nothing"


def _last_unindented_line(output: IO[bytes]) -> str:
    output.seek(0, os.SEEK_END)
    output.seek(max(0, output.tell() - _TAIL_BYTES))
    lines = output.read().decode("utf-8", "replace").splitlines()
    for line in reversed(lines):
        if line.strip() and not line[:1].isspace():
            text = line.strip()
            return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"
    return ""
