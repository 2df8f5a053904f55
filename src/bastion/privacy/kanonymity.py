"""k-anonymity of a table over its quasi-identifiers, measured with one GROUP BY in DuckDB."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bastion.scanners.data.dataset import quote_identifier

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class KAnonymity:
    """How identifiable rows are by their quasi-identifiers: rows sharing all of them form an equivalence class."""

    quasi_identifiers: tuple[str, ...]
    """The columns measured; after anonymization, those the output still has."""
    k: int
    """The size of the smallest class: every row shares its quasi-identifiers with at least k - 1 others (0: no rows)."""
    classes: int
    """How many distinct combinations of quasi-identifier values there are."""
    target: int | None
    """The policy's ``k``, if it set one."""
    classes_below: int | None
    """Classes smaller than ``target`` (None without a target)."""
    rows_below: int | None
    """Rows in those classes: the rows the target does not protect yet."""

    @property
    def meets_target(self) -> bool:
        return self.target is None or self.k >= self.target


def measure(
    connection: duckdb.DuckDBPyConnection, relation: str, quasi_identifiers: Sequence[str], target: int | None
) -> KAnonymity:
    """k-anonymity of ``relation`` (a table, view or table function) over ``quasi_identifiers``.

    With no quasi-identifiers left (all dropped), the table is one class: nothing tells its rows apart.
    """
    group_by = f"GROUP BY {', '.join(quote_identifier(c) for c in quasi_identifiers)}" if quasi_identifiers else ""
    below = int(target) if target is not None else 0
    row = connection.execute(
        f"SELECT coalesce(min(n), 0), count(*), count(*) FILTER (WHERE n < {below}), "
        f"coalesce(sum(n) FILTER (WHERE n < {below}), 0) "
        f"FROM (SELECT count(*) AS n FROM {relation} {group_by}) WHERE n > 0"
    ).fetchone()
    assert row is not None  # an aggregate always returns one row
    smallest, classes, classes_below, rows_below = (int(value) for value in row)
    return KAnonymity(
        quasi_identifiers=tuple(quasi_identifiers),
        k=smallest,
        classes=classes,
        target=target,
        classes_below=classes_below if target is not None else None,
        rows_below=rows_below if target is not None else None,
    )
