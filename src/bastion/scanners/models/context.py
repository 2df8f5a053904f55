"""What every model-format handler is given: where it is, how deep, and the budget left.

A model file may nest containers (a zip holding a tar holding a gzip of a pickle). Each level
gets a ``ModelContext`` naming its member chain; all levels share one ``Budget`` so that a zip
bomb or a million-member archive becomes a finding, never a hang or an exhausted machine.
"""

from __future__ import annotations

from typing import NamedTuple

from bastion.core import Category, Finding, Location, Severity
from bastion.scanners.interface import ScanError

MEMBER_SEPARATOR = "!"
"""Joins nested member names: ``inner.zip!archive/data.pkl``."""


class Limits(NamedTuple):
    """Bounds on what one model file may make the scanner do."""

    max_depth: int = 6
    """Containers nested deeper than this are not opened."""
    max_members: int = 2_000_000
    """Members over all containers of one file."""
    max_decompressed: int = 8 * 1024**3
    """Bytes produced by decompression over the whole file."""
    max_ratio: int = 200
    """A member that inflates more than this many times over its compressed size is a bomb."""
    max_pickle_opcodes: int = 50_000_000
    """Opcodes over all pickles of one file."""


class Budget:
    """What is left of the ``Limits`` for the file being scanned; shared by every level."""

    __slots__ = ("decompressed", "limits", "members", "opcodes", "source_size")

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits if limits is not None else Limits()
        self.members = 0
        self.decompressed = 0
        self.opcodes = 0
        self.source_size: int | None = None
        """Size of the file at the top of the scan, for the whole-file inflation bound: a nested bomb
        (42.zip) inflates every level modestly, so only the total against the file's size gives it away."""

    def add_members(self, n: int, ctx: ModelContext) -> None:
        self.members += n
        if self.members > self.limits.max_members:
            raise LimitExceeded(ctx, f"more than {self.limits.max_members} members in containers")

    def add_decompressed(self, n: int, ctx: ModelContext) -> None:
        self.decompressed += n
        if self.decompressed > self.limits.max_decompressed:
            raise LimitExceeded(ctx, f"more than {self.limits.max_decompressed} bytes after decompression")

    def add_opcodes(self, n: int, ctx: ModelContext) -> None:
        self.opcodes += n
        if self.opcodes > self.limits.max_pickle_opcodes:
            raise LimitExceeded(ctx, f"more than {self.limits.max_pickle_opcodes} pickle opcodes")


class ModelContext:
    """Where a handler is: the file, the member chain inside it, the nesting depth, the budget."""

    __slots__ = ("budget", "depth", "member", "path")

    def __init__(self, path: str, member: str | None = None, depth: int = 0, budget: Budget | None = None) -> None:
        self.path = path
        """The display path of the file on disk."""
        self.member = member
        """The chain of container members down to here, joined with ``MEMBER_SEPARATOR``."""
        self.depth = depth
        self.budget = budget if budget is not None else Budget()

    def child(self, member: str) -> ModelContext:
        """The context of ``member`` inside the current container; refuses to go too deep."""
        if self.depth + 1 > self.budget.limits.max_depth:
            raise LimitExceeded(self, f"containers nested deeper than {self.budget.limits.max_depth} levels")
        chain = member if self.member is None else f"{self.member}{MEMBER_SEPARATOR}{member}"
        return ModelContext(self.path, chain, self.depth + 1, self.budget)

    def location(self, offset: int | None = None) -> Location:
        return Location(path=self.path, member=self.member, offset=offset)

    def finding(
        self,
        rule_id: str,
        severity: Severity,
        message: str,
        *,
        offset: int | None = None,
        category: Category = Category.UNSAFE_CODE,
        confidence: float | None = None,
        evidence: str | None = None,
        remediation: str | None = None,
    ) -> Finding:
        """A finding located here; remediation defaults to the safe-format advice."""
        return Finding(
            rule_id=rule_id,
            category=category,
            severity=severity,
            message=message,
            location=self.location(offset),
            confidence=confidence,
            evidence=evidence,
            remediation=remediation or SAFE_FORMAT_ADVICE,
        )


SAFE_FORMAT_ADVICE = (
    "Do not load this file. Obtain the model in a format that cannot run code: safetensors for tensors, "
    "skops for scikit-learn, ONNX for whole graphs, the framework's native JSON for boosters."
)


class LimitExceeded(ScanError):
    """A bound in ``Limits`` was reached: the scan stops there, partial, with a finding saying so."""

    def __init__(self, ctx: ModelContext, what: str) -> None:
        finding = ctx.finding(
            "model.archive.limit-exceeded",
            Severity.HIGH,
            f"scan stopped: {what} (possible decompression or archive bomb)",
            category=Category.MISCONFIGURATION,
            remediation="Do not load this file; a legitimate model does not need this. Re-export it in a safe format.",
        )
        super().__init__(f"{what}; scan stopped", findings=[finding], partial=True)
