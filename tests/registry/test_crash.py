"""Crash safety: a process writing to the registry (and so to the audit log) is killed with SIGKILL at random points,
and on both sides of the gap between a change's commit and its audit entry; afterwards the database and the log are
consistent, every committed change has its entry exactly once (once the registry is opened again), and the registry
keeps working."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from bastion.audit import AuditLog, Entry, load_public_key, verify_log
from bastion.audit.signer import PUBLIC_KEY_NAME
from bastion.registry import Registry
from bastion.registry.database import HEAD_REVISION
from tests.registry.conftest import World

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 6


def _spawn(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env}, cwd=ROOT
    )


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)


def _consistency_problems(registry: Registry) -> list[str]:
    """Every invariant that a transaction cut in half would break."""
    problems = []
    checks = {
        "integrity_check is not ok": "SELECT 1 FROM pragma_integrity_check WHERE integrity_check != 'ok'",
        "a foreign key points nowhere": "SELECT 1 FROM pragma_foreign_key_check",
        "a user without a token": "SELECT name FROM users WHERE id NOT IN (SELECT user_id FROM api_tokens)",
        "a user without a role": "SELECT name FROM users WHERE id NOT IN (SELECT user_id FROM user_roles)",
        "a model without a version": "SELECT name FROM registered_models WHERE id NOT IN (SELECT model_id FROM model_versions)",
        "a version registered other than once": (
            "SELECT v.id FROM model_versions v WHERE (SELECT count(*) FROM history h WHERE h.model_id = v.model_id "
            "AND h.version = v.version AND h.kind = 'registered') != 1"
        ),
        "approvals and status changes differ in number": (
            "SELECT v.id FROM model_versions v WHERE (SELECT count(*) FROM approvals a WHERE a.version_id = v.id) != "
            "(SELECT count(*) FROM history h WHERE h.model_id = v.model_id AND h.version = v.version AND h.kind = 'status')"
        ),
        "a status that is not the latest decision": (
            "SELECT v.id FROM model_versions v WHERE v.status != coalesce((SELECT a.decision FROM approvals a "
            "WHERE a.version_id = v.id ORDER BY a.id DESC LIMIT 1), 'pending')"
        ),
        "an alias that is not where its history says": (
            "SELECT a.name FROM aliases a JOIN model_versions v ON v.id = a.version_id WHERE CAST(v.version AS TEXT) != "
            "(SELECT h.new_value FROM history h WHERE h.model_id = a.model_id AND h.kind = 'alias' AND h.subject = a.name "
            "ORDER BY h.id DESC LIMIT 1)"
        ),
    }
    with registry.engine.connect() as connection:
        for problem, query in checks.items():
            rows = connection.execute(text(query)).all()
            if rows:
                problems.append(f"{problem}: {rows[:3]}")
    return problems


def _audit_gaps(registry: Registry) -> list[str]:
    """Committed changes whose audit entry is missing or there twice: each user, decision, alias move and version
    has exactly one entry of its action with outcome ok, and no event waits in the outbox."""
    ok = [e for e in AuditLog.at_home().entries() if e.outcome == "ok"]
    entries = Counter(e.action for e in ok)
    users = Counter(e.target for e in ok if e.action == "user.add")
    events = Counter(e.details.get("event_id") for e in ok)
    queries = {
        "model.approve+model.reject": "SELECT count(*) FROM approvals",
        "model.alias": "SELECT count(*) FROM history WHERE kind = 'alias'",
        "model.register": "SELECT count(*) FROM history WHERE kind = 'registered'",
        "outbox": "SELECT count(*) FROM audit_outbox",
    }
    with registry.engine.connect() as connection:
        counts = {name: connection.execute(text(query)).scalar_one() for name, query in queries.items()}
        names = Counter(connection.execute(text("SELECT name FROM users")).scalars())
    problems = [f"{n} events still in the outbox" for n in [counts.pop("outbox")] if n]
    for actions, committed in counts.items():
        recorded = sum(entries[action] for action in actions.split("+"))
        if recorded != committed:
            problems.append(f"{committed} committed {actions} changes, {recorded} entries")
    if users != names:
        problems.append(f"users and their user.add entries differ: {(users - names) + (names - users)}")
    problems += [f"event {event} recorded {n} times" for event, n in events.items() if event and n > 1]
    return problems


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_killed_writers_leave_database_and_log_consistent(world: World, home: Path) -> None:
    registry, p = world.registry, world.principals
    registry.register(p["ml-engineer"], world.packages.signed[0], "churn")
    registry.register(p["ml-engineer"], world.packages.signed[1], "churn")
    seed = int.from_bytes(os.urandom(4))
    chance = random.Random(seed)
    env = {
        "BASTION_HOME": str(home),
        "BASTION_ARTIFACT_ROOTS": str(world.packages.directory),
        "PACKAGE": str(world.packages.signed[2]),
        "ADMIN_TOKEN": world.tokens["admin"],
        "APPROVER_TOKEN": world.tokens["approver"],
        "MLOPS_TOKEN": world.tokens["mlops"],
        "ENGINEER_TOKEN": world.tokens["engineer2"],
    }
    key = load_public_key(home / "keys" / PUBLIC_KEY_NAME)
    progress = []
    for run in range(ROUNDS):
        worker = _spawn("-m", "tests.registry.crash_worker", "loop", str(run), env=env)
        assert worker.stdout is not None
        ready = worker.stdout.readline()
        assert ready == "ready\n", worker.communicate(timeout=60)[1]
        time.sleep(chance.uniform(0.05, 1.2))
        _kill(worker)
        problems = _consistency_problems(registry)
        assert not problems, f"after kill {run} (seed {seed}): {problems}"
        verification = verify_log(AuditLog.at_home(), key)
        assert verification.intact, f"after kill {run} (seed {seed}): {verification.problem}"
        Registry.open().close()  # a restart appends what the killed writer committed but did not record
        gaps = _audit_gaps(registry)
        assert not gaps, f"after kill {run} and a restart (seed {seed}): {gaps}"
        with registry.engine.connect() as connection:
            progress.append(connection.execute(text("SELECT count(*) FROM approvals")).scalar_one())
    assert progress[-1] > 0, "the workers never wrote anything: the test would prove nothing"
    # The registry keeps working after the kills, and what the workers committed is there.
    registry.approve(p["approver2"], "churn", 2)
    assert registry.show_version(p["auditor"], "churn", 2).status == "approved"
    assert not _consistency_problems(registry)
    assert not _audit_gaps(registry)


@pytest.mark.parametrize("moment", ["before-append", "after-append"])
def test_a_change_killed_between_commit_and_audit_entry_is_recorded_once_on_restart(
    world: World, home: Path, database_url: str | None, moment: str
) -> None:
    env = {
        "BASTION_HOME": str(home),
        "ADMIN_TOKEN": world.tokens["admin"],
        **({"BASTION_DB_URL": database_url} if database_url else {}),
    }
    worker = _spawn("-m", "tests.registry.crash_worker", moment, "ghost", env=env)
    _, stderr = worker.communicate(timeout=120)
    assert worker.returncode == -signal.SIGKILL, stderr

    def entries() -> list[Entry]:
        return [e for e in AuditLog.at_home().entries() if e.action == "user.add" and e.target == "ghost"]

    def count(query: str) -> int:
        with world.registry.engine.connect() as connection:
            return int(connection.execute(text(query)).scalar_one())

    def pending() -> int:
        return count("SELECT count(*) FROM audit_outbox")

    assert count("SELECT count(*) FROM users WHERE name = 'ghost'") == 1  # the change was committed
    assert (len(entries()), pending()) == ((1, 1) if moment == "after-append" else (0, 1))
    Registry.open(database_url).close()
    recorded = entries()
    assert len(recorded) == 1 and pending() == 0
    assert recorded[0].actor == "root" and recorded[0].details["roles"] == ["auditor"]
    Registry.open(database_url).close()  # nothing pending: nothing appended again
    assert entries() == recorded
    key = load_public_key(home / "keys" / PUBLIC_KEY_NAME)
    verification = verify_log(AuditLog.at_home(), key)
    assert verification.intact and verification.checkpoints >= 1, verification.problem
    assert AuditLog.at_home().last_checkpoint().size == verification.entries  # type: ignore[union-attr]
    assert not _audit_gaps(world.registry)


def test_a_migration_killed_half_way_is_redone_whole(home: Path) -> None:
    seed = int.from_bytes(os.urandom(4))
    chance = random.Random(seed)
    opener = "from bastion.registry import Registry; Registry.open(create=True)"
    for run in range(3):
        for leftover in home.glob("registry.db*"):  # a fresh database (and no journal) for each killed migration
            leftover.unlink()
        process = _spawn("-c", opener, env={"BASTION_HOME": str(home)})
        time.sleep(chance.uniform(0.2, 1.5))
        _kill(process)
        registry = Registry.open(create=True)
        try:
            with registry.engine.connect() as connection:
                roles = connection.execute(text("SELECT count(*) FROM roles")).scalar_one()
                version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        finally:
            registry.close()
        assert (roles, version) == (6, HEAD_REVISION), f"after kill {run} (seed {seed})"
