"""The anonymizer: a dataset in, the same dataset out with each column transformed by the policy.

One DuckDB ``COPY (SELECT ...) TO`` streams the input through the transforms into a temporary file
beside the output, so memory stays bounded and the input is only ever read. The temporary file is
renamed over the output only when everything succeeded and the k-anonymity target is met; on any
error, Ctrl-C included, it is removed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.core import atomic_path
from bastion.privacy._functions import DUCKDB_INTERRUPTED, PythonFunctions
from bastion.privacy._tables import check_output, describe_error, table_format
from bastion.privacy.datakey import data_key_path, write_data_key
from bastion.privacy.errors import AnonymizeError
from bastion.privacy.kanonymity import KAnonymity, measure
from bastion.privacy.policy import Action, AnonPolicy, Drop, Encrypt, Redact
from bastion.privacy.transforms import PSEUDONYM_PURPOSE, Encryptor, Redactor, hmac_parameters, sql_expression
from bastion.scanners.data.dataset import quote_identifier
from bastion.store.keys import DataKey, KeyProvider, open_key_provider

if TYPE_CHECKING:
    import duckdb

    from bastion.privacy._tables import TableFormat

MEMORY_LIMIT = "1GB"
"""DuckDB's working memory; larger inputs spill to a temporary directory."""


@dataclass(frozen=True)
class ColumnReport:
    """What happened to one input column."""

    column: str
    """The column's name."""
    action: str
    """drop, keep, mask, pseudonymize, generalize, encrypt or redact."""
    detail: str
    """The action's settings in words (empty for drop and keep)."""


@dataclass(frozen=True)
class AnonymizeReport:
    """The outcome of one anonymization."""

    input: str
    """The input path as given."""
    output: str
    """The output path as given."""
    format: str
    """The format of both: csv, tsv, parquet or jsonl."""
    rows: int
    """Rows read and transformed; all of them are in the output when ``written``."""
    written: bool
    """False when the output would have missed the policy's k-anonymity target and so was not written."""
    columns: tuple[ColumnReport, ...]
    """Every input column in order, with its action."""
    k_before: KAnonymity | None
    """k-anonymity of the input over the policy's quasi-identifiers (None when it declares none)."""
    k_after: KAnonymity | None
    """k-anonymity of the output over the quasi-identifiers it still has."""
    data_key_file: str | None
    """The wrapped data key of the encrypted columns, written beside the output (None without encryption)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def anonymize(source: str | Path, output: str | Path, policy: AnonPolicy, *, keys: KeyProvider | None = None) -> AnonymizeReport:
    """Write ``source`` anonymized by ``policy`` to ``output``, atomically, in ``source``'s format.

    ``keys`` supplies the pseudonym secret and wraps the data key of encrypted columns; by default
    the configured provider (``BASTION_KMS_URL``, else the local keyring) is opened when the policy needs one.
    """
    import duckdb

    source, output = Path(source), Path(output)
    connection = duckdb.connect(config={"memory_limit": MEMORY_LIMIT})
    connection.execute("SET enable_progress_bar = false")  # DuckDB draws one on stdout for long queries
    try:
        fmt = table_format(source)
        check_output(source, output, fmt)
        return _Run(connection, source, output, fmt, policy, keys).run()
    finally:
        connection.close()


class _Run:
    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        source: Path,
        output: Path,
        fmt: TableFormat,
        policy: AnonPolicy,
        keys: KeyProvider | None,
    ) -> None:
        self.connection, self.source, self.output, self.format, self.policy = connection, source, output, fmt, policy
        self.keys = keys
        self.functions = PythonFunctions(connection)

    def run(self) -> AnonymizeReport:
        import duckdb

        policy = self.policy
        try:
            self.connection.execute(f"CREATE TEMP VIEW data AS SELECT * FROM {self.format.reader(self.source)}")
            columns = [str(row[0]) for row in self.connection.execute("DESCRIBE data").fetchall()]
        except duckdb.Error as exc:
            raise AnonymizeError(f"{self.source}: cannot read {self.format.name} data: {describe_error(exc)}") from None
        policy.check_columns(columns, str(self.source))
        plan = [(column, policy.action_for(column)) for column in columns]
        if all(isinstance(action, Drop) for _, action in plan):
            raise AnonymizeError(f"{self.source}: the policy drops every column; there would be nothing to write")

        keys = (self.keys if self.keys is not None else open_key_provider()) if _needs_keys(policy) else None
        parameters: dict[str, object] = {}
        if keys is not None and policy.uses("pseudonymize"):
            parameters.update(hmac_parameters(keys.derive(policy.key, PSEUDONYM_PURPOSE)))
        data_key = keys.generate_data_key(policy.key) if keys is not None and policy.uses("encrypt") else None
        select = ", ".join(
            f"{self._expression(quote_identifier(column), action, data_key)} AS {quote_identifier(column)}"
            for column, action in plan
            if not isinstance(action, Drop)
        )
        remaining = tuple(c for c in policy.quasi_identifiers if not isinstance(policy.action_for(c), Drop))

        rows, written, before, after, sidecar = 0, False, None, None, None
        try:
            before = self._measure("data", policy.quasi_identifiers)
            with atomic_path(self.output) as temporary:
                row = self.connection.execute(
                    f"COPY (SELECT {select} FROM data) TO $output ({self.format.copy_options()})",
                    {**parameters, "output": str(temporary)},
                ).fetchone()
                rows = int(row[0]) if row else 0
                after = self._measure(self.format.reader(temporary), remaining)
                if after is not None and not after.meets_target:
                    raise _TargetMissed
                if data_key is not None:
                    sidecar = data_key_path(self.output)
                    write_data_key(sidecar, data_key.wrapped, [c for c, action in plan if isinstance(action, Encrypt)])
            written = True
        except _TargetMissed:
            pass
        except duckdb.Error as exc:
            self.functions.reraise(exc)
            raise AnonymizeError(f"{self.source}: {describe_error(exc)}") from None
        except RuntimeError as exc:
            if str(exc) == DUCKDB_INTERRUPTED:  # how DuckDB reports Ctrl-C that arrives while its own code runs
                raise KeyboardInterrupt from None
            raise
        return AnonymizeReport(
            input=str(self.source),
            output=str(self.output),
            format=self.format.name,
            rows=rows,
            written=written,
            columns=tuple(ColumnReport(column, action.action, action.describe()) for column, action in plan),
            k_before=before,
            k_after=after,
            data_key_file=str(sidecar) if sidecar is not None else None,
        )

    def _expression(self, column: str, action: Action, data_key: DataKey | None) -> str:
        sql = sql_expression(column, action)
        if sql is not None:
            return sql
        if isinstance(action, Encrypt):
            assert data_key is not None
            # Volatile: a fresh nonce per value, so DuckDB must not reuse one result for equal inputs.
            return f"{self.functions.add(Encryptor(data_key.plaintext), volatile=True)}(CAST({column} AS VARCHAR))"
        assert isinstance(action, Redact)
        return f"{self.functions.add(Redactor(action))}(CAST({column} AS VARCHAR))"

    def _measure(self, relation: str, quasi_identifiers: tuple[str, ...]) -> KAnonymity | None:
        """k-anonymity over ``quasi_identifiers``; None when the policy declares none."""
        if not self.policy.quasi_identifiers:
            return None
        return measure(self.connection, relation, quasi_identifiers, self.policy.k)


def _needs_keys(policy: AnonPolicy) -> bool:
    return policy.uses("pseudonymize") or policy.uses("encrypt")


class _TargetMissed(Exception):
    """Raised inside the atomic write to discard the output: it would not meet the k-anonymity target."""
