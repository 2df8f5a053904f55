"""The transactional outbox between the registry's database and the audit log.

A change and its audit event commit in one transaction (``stage``); the event is then appended to the log and its
row deleted (``drain``). A crash between the commit and the append leaves the row, and the next ``Registry.open``
or mutation drains it, so every committed change gets its entry; a rolled-back change leaves no row, so it gets
none. A crash between the append and the row's deletion leaves both: the drain finds the event's id among the
entries appended since the change committed (from ``log_size`` on) and only deletes the row, so the entry is in
the log exactly once.

A drain holds the rows it appends locked (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the writer lock on SQLite)
from before that search until their deletion commits, so two processes never append the same event.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bastion.registry.schema import OutboxEvent

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bastion.audit import HashChainedLog

EVENT_ID = "event_id"
"""The key of the entry's details holding the outbox event's id."""


def stage(
    session: Session,
    log: HashChainedLog,
    action: str,
    actor: str,
    target: str | None,
    outcome: str,
    details: Mapping[str, Any],
) -> None:
    """Add the audit event of the change being made in ``session``'s transaction."""
    session.add(
        OutboxEvent(
            event_id=os.urandom(16).hex(),
            log_size=log.size(),
            action=action,
            actor=actor,
            target=target,
            outcome=outcome,
            details=dict(details),
            created_at=dt.datetime.now(dt.UTC),
        )
    )


def drain(session: Session, log: HashChainedLog) -> int:
    """Append every pending event not in ``log`` yet and delete its row (committed with ``session``); how many."""
    from sqlalchemy import select

    rows = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id).with_for_update(skip_locked=True)).all()
    if not rows:
        return 0
    pending = {row.event_id for row in rows}
    appended = {entry.details.get(EVENT_ID) for entry in log.entries(min(row.log_size for row in rows))} & pending
    for row in rows:
        if row.event_id not in appended:
            details = {**row.details, EVENT_ID: row.event_id}
            log.append(row.action, actor=row.actor, target=row.target, outcome=row.outcome, details=details)
        session.delete(row)
    return len(rows)
