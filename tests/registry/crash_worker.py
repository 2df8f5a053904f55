"""Writes to the registry until killed: run by ``test_crash.py``.

``loop RUN``: writes in a loop, killed by the test with SIGKILL at random points. Tokens come in the environment
(ADMIN_TOKEN, APPROVER_TOKEN, MLOPS_TOKEN, ENGINEER_TOKEN); PACKAGE names a signed package to register under new
names; RUN distinguishes the names each run creates.

``before-append NAME`` / ``after-append NAME``: adds the user NAME and kills itself with SIGKILL when its audit
entry is about to be appended (the change is committed, the entry not written) or has just been appended (the
outbox row not deleted yet): the two sides of the gap between the database and the log.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
from pathlib import Path
from typing import Any

from bastion.audit import HashChainedLog, open_log
from bastion.registry import Registry, Stage


def loop(run: str) -> None:
    registry = Registry.open()
    admin, approver, mlops, engineer = (
        registry.authenticate(os.environ[name]) for name in ("ADMIN_TOKEN", "APPROVER_TOKEN", "MLOPS_TOKEN", "ENGINEER_TOKEN")
    )
    print("ready", flush=True)
    for i in itertools.count():
        registry.add_user(admin, f"w{run}x{i}", ["auditor"])
        decide = registry.approve if i % 2 == 0 else registry.reject
        decide(approver, "churn", 1, stage=Stage.STAGING, comment=f"run {run} step {i}")
        registry.set_alias(mlops, "churn", "champion", 1 + i % 2)
        if i % 4 == 3:
            registry.register(engineer, Path(os.environ["PACKAGE"]), f"m{run}x{i}", tags={"run": run})


def add_user_and_die(name: str, *, after_append: bool) -> None:
    kind = type(open_log())  # the local log, or the bucket's with BASTION_AUDIT_URL
    append = kind.append

    def dying_append(log: HashChainedLog, action: str, **fields: Any) -> Any:
        if action == "user.add" and fields.get("target") == name:
            if after_append:
                append(log, action, **fields)
            os.kill(os.getpid(), signal.SIGKILL)
        return append(log, action, **fields)

    kind.append = dying_append  # type: ignore[method-assign]
    registry = Registry.open()
    registry.add_user(registry.authenticate(os.environ["ADMIN_TOKEN"]), name, ["auditor"])
    raise SystemExit("still alive: the audit entry was never appended")


def main() -> None:
    mode, argument = sys.argv[1:3]
    if mode == "loop":
        loop(argument)
    else:
        add_user_and_die(argument, after_append=mode == "after-append")


if __name__ == "__main__":
    main()
