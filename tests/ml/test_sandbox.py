"""The sandbox on real child processes: network namespace, environment, limits, timeout and error lines."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from bastion.ml.sandbox import Isolation, IsolationReport, SandboxError, run_sandboxed


def _python(tmp_path: Path, source: str) -> list[str]:
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(source))
    return [sys.executable, str(script)]


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(30)
    yield server
    server.close()


@pytest.fixture
def isolated(tmp_path: Path) -> IsolationReport:
    """A confined run of a child that does nothing; skips where this platform cannot make a network namespace."""
    report = run_sandboxed([sys.executable, "-c", "pass"], Isolation(), cwd=tmp_path)
    if not report.network_isolated:
        pytest.skip(f"no network namespace on this machine: {report.reason}")
    return report


def test_a_confined_child_cannot_reach_a_listener_on_loopback(
    tmp_path: Path, listener: socket.socket, isolated: IsolationReport
) -> None:
    port = listener.getsockname()[1]
    argv = _python(tmp_path, f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=10)\n")
    with pytest.raises(SandboxError) as error:
        run_sandboxed(argv, Isolation(), cwd=tmp_path)
    assert str(error.value).startswith("OSError: [Errno 101] Network is unreachable")
    assert isolated.reason is None


def test_a_child_allowed_the_network_reaches_the_listener(tmp_path: Path, listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    argv = _python(tmp_path, f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=10).sendall(b'hello')\n")
    report = run_sandboxed(argv, Isolation(network=True), cwd=tmp_path)
    connection, _ = listener.accept()
    with connection:
        assert connection.recv(5) == b"hello"
    assert report.network_isolated is False
    assert report.reason == "network allowed by the configuration"


def test_credentials_and_unlisted_variables_are_not_inherited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-value")
    monkeypatch.setenv("VAULT_TOKEN", "hvs.vault-token-value")
    monkeypatch.setenv("PROJECT_SETTING", "plain")
    monkeypatch.setenv("LANG", "C.UTF-8")
    argv = _python(tmp_path, "import json, os\nopen('env.json', 'w').write(json.dumps(dict(os.environ)))\n")
    # Listing a credential does not let it through.
    keep = (*Isolation().keep_environment, "VAULT_TOKEN")
    report = run_sandboxed(argv, Isolation(keep_environment=keep), cwd=tmp_path)
    seen = json.loads((tmp_path / "env.json").read_text())
    assert "AWS_SECRET_ACCESS_KEY" not in seen and "VAULT_TOKEN" not in seen and "PROJECT_SETTING" not in seen
    assert seen["LANG"] == "C.UTF-8"
    assert {"AWS_SECRET_ACCESS_KEY", "VAULT_TOKEN", "PROJECT_SETTING"} <= set(report.dropped_environment)
    assert "aws-secret-value" not in json.dumps(report.to_dict())


def test_memory_limit(tmp_path: Path) -> None:
    argv = _python(tmp_path, "block = bytearray(2 * 2**30)\n")
    with pytest.raises(SandboxError) as error:
        run_sandboxed(argv, Isolation(memory_bytes=512 * 2**20), cwd=tmp_path)
    assert str(error.value) == "MemoryError"
    # The same child without the limit gets its memory.
    run_sandboxed(argv, Isolation(memory_bytes=None), cwd=tmp_path)


def test_cpu_limit(tmp_path: Path) -> None:
    argv = _python(tmp_path, "while True:\n    pass\n")
    with pytest.raises(SandboxError, match="CPU time limit of 1 s"):
        run_sandboxed(argv, Isolation(cpu_seconds=1), cwd=tmp_path)


def test_timeout_kills_the_child_and_what_it_started(tmp_path: Path) -> None:
    argv = _python(
        tmp_path,
        """
        import subprocess, sys, time
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open("grandchild.pid", "w").write(str(grandchild.pid))
        time.sleep(600)
        """,
    )
    with pytest.raises(SandboxError, match=r"did not finish within 2 s and was killed"):
        run_sandboxed(argv, Isolation(timeout_seconds=2), cwd=tmp_path)
    pid = int((tmp_path / "grandchild.pid").read_text())
    assert _ends_within(pid, seconds=10), "the grandchild outlived the sandbox's timeout"


def test_what_the_child_left_running_in_the_background_is_killed_when_it_exits(tmp_path: Path) -> None:
    argv = _python(
        tmp_path,
        """
        import subprocess, sys
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open("grandchild.pid", "w").write(str(grandchild.pid))
        """,
    )
    run_sandboxed(argv, Isolation(), cwd=tmp_path)
    pid = int((tmp_path / "grandchild.pid").read_text())
    assert _ends_within(pid, seconds=10), "a background process of the child outlived the sandbox"


def _ends_within(pid: int, *, seconds: float) -> bool:
    """Whether process ``pid`` is gone (or a zombie) within ``seconds``: SIGKILL is delivered asynchronously."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]:
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_a_child_that_raises_gives_its_exception_on_one_line_and_the_traceback_in_the_log(tmp_path: Path) -> None:
    argv = _python(
        tmp_path,
        """
        print("epoch 1 done")
        def fit():
            raise ValueError("learning rate must be positive, got -1")
        fit()
        """,
    )
    log = tmp_path / "child.log"
    with pytest.raises(SandboxError) as error:
        run_sandboxed(argv, Isolation(), cwd=tmp_path, log=log)
    assert str(error.value) == "ValueError: learning rate must be positive, got -1"
    text = log.read_text()
    assert "epoch 1 done" in text and "Traceback (most recent call last)" in text and "in fit" in text


def test_a_silent_failure_reports_its_exit_status(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="exited with status 3 and printed nothing"):
        run_sandboxed([sys.executable, "-c", "raise SystemExit(3)"], Isolation(), cwd=tmp_path)


def test_a_missing_program_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="cannot start /nonexistent/python: No such file or directory"):
        run_sandboxed(["/nonexistent/python"], Isolation(), cwd=tmp_path)


# Docker's default seccomp profile denies unshare(2) to unprivileged containers; the same filter, installed
# in a child Python before it calls the sandbox, makes both namespace attempts fail for real.
_DENY_UNSHARE = """
import ctypes, json, sys
from pathlib import Path

from bastion.ml.sandbox import Isolation, SandboxError, run_sandboxed


class Filter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]


AUDIT_ARCH_X86_64, NR_UNSHARE, EPERM = 0xC000003E, 272, 1
rules = (Filter * 6)(
    Filter(0x20, 0, 0, 4),                    # load the architecture
    Filter(0x15, 0, 3, AUDIT_ARCH_X86_64),    # another one: allow
    Filter(0x20, 0, 0, 0),                    # load the system call number
    Filter(0x15, 0, 1, NR_UNSHARE),
    Filter(0x06, 0, 0, 0x00050000 | EPERM),   # unshare: fail with EPERM
    Filter(0x06, 0, 0, 0x7FFF0000),           # everything else: allow
)
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
assert libc.prctl(22, 2, ctypes.byref(Program(6, rules)), 0, 0) == 0  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER

cwd = Path(sys.argv[1])
outcome = {"report": run_sandboxed([sys.executable, "-c", "pass"], Isolation(), cwd=cwd).to_dict()}
try:
    run_sandboxed([sys.executable, "-c", "open('ran', 'w')"], Isolation(require_network_isolation=True), cwd=cwd)
except SandboxError as exc:
    outcome["refused"] = str(exc)
print(json.dumps(outcome))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.uname().machine != "x86_64", reason="an x86-64 seccomp filter")
def test_without_namespaces_the_report_says_so_and_a_required_isolation_refuses_to_run(tmp_path: Path) -> None:
    script = tmp_path / "deny_unshare.py"
    script.write_text(_DENY_UNSHARE)
    done = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=120, check=True)
    outcome = json.loads(done.stdout)
    reasons = (
        "unshare(CLONE_NEWNET) failed: Operation not permitted; "
        "unshare(CLONE_NEWUSER|CLONE_NEWNET) failed: Operation not permitted"
    )
    assert outcome["report"]["network_isolated"] is False
    assert outcome["report"]["reason"] == reasons
    assert outcome["refused"] == f"network isolation is required but unavailable: {reasons}"
    assert not (tmp_path / "ran").exists()  # refused before the command ran
