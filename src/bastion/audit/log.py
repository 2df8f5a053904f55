"""The audit log in a local directory: hash-chained JSON Lines segments, appended under a lock, committed by signed
checkpoints.

Entries are spelt as ``encoding`` says. A checkpoint signs the RFC 6962 Merkle root over the first ``size``
entries; truncation, or a rewrite of the whole chain, then contradicts a signed root.

Appends take an exclusive ``flock`` and write the whole line with one ``O_APPEND`` write, fsynced when the
log is durable. A process killed mid-write leaves at most a partial last line, never acknowledged; the
next append, under the lock, cuts it off, and verification reports it without failing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.audit import encoding
from bastion.audit.encoding import GENESIS, canonical, new_entry
from bastion.audit.errors import AuditError
from bastion.audit.interface import Checkpoint, Entry, HashChainedLog, extend_tree, parsed_entry, sign_checkpoint
from bastion.audit.merkle import CompactRange
from bastion.core import bastion_home

if TYPE_CHECKING:
    from bastion.audit.signer import AuditSigner

SEGMENT_LIMIT = 64 * 1024 * 1024
"""A segment past this size is closed and the next append starts a new one (ELK ships whole files)."""
_TAIL_WINDOW = 256 * 1024
_SEGMENT_GLOB = "segment-*.jsonl"
_CHECKPOINTS = "checkpoints.jsonl"


class AuditLog(HashChainedLog):
    """The append-only log in ``directory``: ``segment-NNNNNNNN.jsonl`` files and ``checkpoints.jsonl``."""

    def __init__(self, directory: str | os.PathLike[str], *, durable: bool = True, signer: AuditSigner | None = None) -> None:
        self.directory = Path(directory)
        self.location = str(self.directory)
        self.durable = durable
        """fsync every append (and every new segment's directory entry) before it returns."""
        self.signer = signer
        self._tail: tuple[Path, int, int, str] | None = None
        """(segment, its size, next seq, last hash) as this process last left them."""
        self._lock_fd: int | None = None

    @classmethod
    def at_home(cls, *, signer: AuditSigner | None = None) -> AuditLog:
        """The instance's log, ``BASTION_HOME/audit``."""
        return cls(bastion_home() / "audit", signer=signer)

    # --- writing ---------------------------------------------------------------------------------

    def append(
        self,
        action: str,
        *,
        actor: str,
        target: str | None = None,
        outcome: str = "ok",
        details: Mapping[str, Any] | None = None,
    ) -> Entry:
        """Record an action; durable (when ``durable``) once this returns."""
        with self._locked():
            segment, size, seq, prev = self._current_tail()
            if size >= SEGMENT_LIMIT:
                segment, size = self._segment_path(segment_number(segment) + 1), 0
            fields, line = new_entry(seq, prev, action, actor, target, outcome, details)
            self._write(segment, line, new=size == 0)
            self._tail = (segment, size + len(line), seq + 1, fields["hash"])
            if self.signer is not None and (seq + 1) % encoding.CHECKPOINT_EVERY == 0:
                self._checkpoint(self.signer)
        return Entry.from_dict(fields)

    def checkpoint(self, signer: AuditSigner) -> Checkpoint:
        with self._locked():
            return self._checkpoint(signer)

    def _checkpoint(self, signer: AuditSigner) -> Checkpoint:
        last = self.last_checkpoint()
        if last is not None and last.key_id == signer.key_id:
            tree = CompactRange(last.size, [bytes.fromhex(r) for r in last.roots])
            position, prev = last.position, last.last_hash
        else:  # the first checkpoint, or a new key: commit to everything from the start
            tree, position, prev = CompactRange(), (1, 0), GENESIS
        positions = [position]

        def lines() -> Iterator[tuple[dict[str, Any], bytes]]:
            for fields, line, after in self._entries_from(position):
                yield fields, line
                positions[0] = after

        prev = extend_tree(tree, prev, lines())
        if last is not None and last.size == tree.size and last.key_id == signer.key_id:
            return last
        checkpoint = sign_checkpoint(signer, tree, prev, positions[0])
        self._write(self.directory / _CHECKPOINTS, canonical(checkpoint.to_dict()) + b"\n", new=False)
        return checkpoint

    # --- reading ---------------------------------------------------------------------------------

    def segments(self) -> list[Path]:
        """The segment files, oldest first."""
        return sorted(self.directory.glob(_SEGMENT_GLOB))

    def size(self) -> int:
        with self._locked():
            return self._current_tail()[2]

    def entries(self, start: int = 0) -> Iterator[Entry]:
        position = (1, 0) if start <= 0 else self._position_of(start)
        for fields, _line, _position in self._entries_from(position):
            yield parsed_entry(fields)

    def stored_lines(self) -> Iterator[tuple[str, int, bytes | None]]:
        for expected, segment in enumerate(self.segments(), 1):
            if segment_number(segment) != expected:
                yield f"segment-{expected:08d}.jsonl", 0, None
                return
            data = segment.read_bytes()
            complete = data[: data.rfind(b"\n") + 1]
            for line_number, line in enumerate(complete.splitlines(), 1):
                yield segment.name, line_number, line

    def checkpoints(self) -> list[Checkpoint]:
        path = self.directory / _CHECKPOINTS
        try:
            lines = path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        checkpoints = []
        for number, line in enumerate(lines, 1):
            try:
                checkpoints.append(Checkpoint.from_dict(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                raise AuditError(f"{path}:{number}: not a checkpoint (edited or corrupted)") from None
        return checkpoints

    def torn_tail(self) -> int:
        """Bytes of an interrupted write at the end of the last segment (cut off by the next append)."""
        segments = self.segments()
        if not segments:
            return 0
        data = segments[-1].read_bytes()
        return len(data) - (data.rfind(b"\n") + 1)

    def _entries_from(self, position: tuple[int, int]) -> Iterator[tuple[dict[str, Any], bytes, tuple[int, int]]]:
        """Parsed entries from (segment number, offset) on, each with its line and the position after it."""
        first, offset = position
        for segment in self.segments():
            number = segment_number(segment)
            if number < first:
                continue
            start = offset if number == first else 0
            with segment.open("rb") as handle:
                handle.seek(start)
                data = handle.read()
            cursor = 0
            while (end := data.find(b"\n", cursor)) != -1:
                line = data[cursor:end]
                try:
                    fields = json.loads(line)
                except ValueError:
                    fields = None
                if not isinstance(fields, dict):
                    raise AuditError(f"{segment.name}: offset {start + cursor} is not an entry; run 'bastion audit verify'")
                cursor = end + 1
                yield fields, line, (number, start + cursor)

    def _position_of(self, seq: int) -> tuple[int, int]:
        """Where entry ``seq`` starts (the end of the log when it is not written yet), searched from the end: the
        entries asked for by number are recent ones."""
        for segment in reversed(self.segments()):
            size, window = segment.stat().st_size, 64 * 1024
            while True:
                start = max(0, size - window)
                with segment.open("rb") as handle:
                    handle.seek(start)
                    data = handle.read(size - start)
                # Skip the line the window cut (all of it when the window holds no line end: then nothing is found).
                cursor = 0 if start == 0 else data.find(b"\n") + 1 or len(data)
                found: list[tuple[int, int]] = []  # (offset, seq) of each complete line
                while (end := data.find(b"\n", cursor)) != -1:
                    found.append((start + cursor, _seq_of(data[cursor:end], segment)))
                    cursor = end + 1
                if (found and found[0][1] <= seq) or start == 0:
                    break
                window *= 4
            if found and found[0][1] <= seq:  # here, or after every entry (not written yet)
                return segment_number(segment), next((offset for offset, line_seq in found if line_seq >= seq), start + cursor)
        return 1, 0

    # --- files -----------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the lock file's descriptor (the log stays usable; the next write reopens it)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self._lock_fd is None:
            try:
                self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
                self._lock_fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                raise AuditError(f"{self.directory}: cannot open the audit log: {exc.strerror or exc}") from None
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _current_tail(self) -> tuple[Path, int, int, str]:
        """(last segment, its size, next seq, last hash), read from disk unless this process wrote last."""
        if self._tail is not None and self._tail[1] < SEGMENT_LIMIT:
            # Below the limit every writer appends to this segment, so an unchanged size means nobody else wrote.
            with contextlib.suppress(FileNotFoundError):
                if self._tail[0].stat().st_size == self._tail[1]:
                    return self._tail
        segments = self.segments()
        if not segments:
            return self._segment_path(1), 0, 0, GENESIS
        segment = segments[-1]
        size = self._cut_torn_tail(segment, segment.stat().st_size)
        for candidate in reversed(segments):
            last = _last_line(candidate)
            if last is not None:
                try:
                    fields = json.loads(last)
                    return segment, size, int(fields["seq"]) + 1, str(fields["hash"])
                except (ValueError, KeyError, TypeError):
                    raise AuditError(f"{candidate}: the last entry is unreadable; run 'bastion audit verify'") from None
        return segment, size, 0, GENESIS

    def _cut_torn_tail(self, segment: Path, size: int) -> int:
        torn = self.torn_tail()
        if torn:
            with segment.open("r+b") as handle:
                handle.truncate(size - torn)
                os.fsync(handle.fileno())
        return size - torn

    def _segment_path(self, number: int) -> Path:
        return self.directory / f"segment-{number:08d}.jsonl"

    def _write(self, path: Path, data: bytes, *, new: bool) -> None:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if self.durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            if new and self.durable:
                dir_fd = os.open(self.directory, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
        except OSError as exc:
            raise AuditError(f"{path}: cannot append to the audit log: {exc.strerror or exc}") from None


def segment_number(path: Path) -> int:
    """The N of ``segment-N.jsonl``."""
    return int(path.stem.removeprefix("segment-"))


def _last_line(path: Path) -> bytes | None:
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - _TAIL_WINDOW))
        data = handle.read()
    lines = data.rstrip(b"\n").rsplit(b"\n", 1)
    return lines[-1] if lines[-1] else None


def _seq_of(line: bytes, segment: Path) -> int:
    try:
        return int(json.loads(line)["seq"])
    except (ValueError, KeyError, TypeError):
        raise AuditError(f"{segment.name}: a line is not an entry; run 'bastion audit verify'") from None
