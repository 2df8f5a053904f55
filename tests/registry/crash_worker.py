"""Writes to the registry in a loop until killed: run by ``test_crash.py``, which kills it with SIGKILL at random points.

Tokens come in the environment (ADMIN_TOKEN, APPROVER_TOKEN, MLOPS_TOKEN, ENGINEER_TOKEN); PACKAGE names a signed
package to register under new names; the first argument distinguishes the names each run creates.
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

from bastion.registry import Registry, Stage


def main() -> None:
    run = sys.argv[1]
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


if __name__ == "__main__":
    main()
