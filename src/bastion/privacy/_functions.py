"""Batched Python transforms that DuckDB runs as vectorised functions, with the errors they raise kept as they are."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

DUCKDB_INTERRUPTED = "Query interrupted"
_UDF_INTERRUPTED = "exception occurred while executing the UDF: KeyboardInterrupt"


class PythonFunctions:
    """Batched Python transforms run by DuckDB; an exception raised in one (Ctrl-C included) comes out as itself."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.connection = connection
        self.count = 0
        self.failure: BaseException | None = None

    def add(self, transform: Callable[[pa.ChunkedArray], pa.Array], *, volatile: bool = False) -> str:
        from duckdb.func import ARROW, SPECIAL
        from duckdb.sqltypes import VARCHAR

        name = f"bastion_transform_{self.count}"
        self.count += 1

        def call(values: Any) -> Any:  # DuckDB evaluates these annotations at run time: no names from TYPE_CHECKING
            try:
                return transform(values)
            except BaseException as exc:
                self.failure = exc  # DuckDB reports it as its own error; keep the original
                raise

        self.connection.create_function(name, call, [VARCHAR], VARCHAR, type=ARROW, null_handling=SPECIAL, side_effects=volatile)
        return name

    def reraise(self, error: Exception) -> None:
        """Raise what really stopped the query that failed with ``error``, if it was not DuckDB itself."""
        import duckdb

        if self.failure is not None:
            raise self.failure
        # Ctrl-C can land in DuckDB's own code around a Python function, outside the function's try.
        if isinstance(error, duckdb.InterruptException) or _UDF_INTERRUPTED in str(error):
            raise KeyboardInterrupt from None
