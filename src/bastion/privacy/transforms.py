"""Column transforms: DuckDB SQL where the work vectorises, batched Python where it cannot (AES-GCM, entity spans).

SQL transforms return an expression over a column expression; Python transforms take and return
an Arrow batch of strings and are run by DuckDB as vectorised functions. Null stays null throughout.
"""

from __future__ import annotations

import base64
import itertools
import os
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from bastion.privacy._tables import sql_literal
from bastion.privacy.policy import Action, Encrypt, Generalize, Mask, Pseudonymize, Redact, number_label

if TYPE_CHECKING:
    import pyarrow as pa

PSEUDONYM_PURPOSE = "bastion.privacy.pseudonym/v1"
"""What pseudonym secrets are derived for; fixed, so tokens match across runs, files and columns."""

_NONCE_BYTES = 12
_HMAC_BLOCK = 64


def sql_expression(value: str, action: Action) -> str | None:
    """The SQL that applies ``action`` to the column expression ``value``; None for the actions that run in Python
    (encrypt, redact), which each caller wires in its own way (a DuckDB function, or Arrow after the query)."""
    match action:
        case Mask():
            return mask_sql(value, action)
        case Pseudonymize():
            return pseudonymize_sql(value, action)
        case Generalize():
            return generalize_sql(value, action)
        case Encrypt() | Redact():
            return None
        case _:  # keep (a dropped column is left out of the select by the caller)
            return value


def mask_sql(value: str, action: Mask) -> str:
    text = f"CAST({value} AS VARCHAR)"
    char, keep = sql_literal(action.char), action.keep_last
    return (
        f"CASE WHEN length({text}) > {keep} THEN repeat({char}, length({text}) - {keep}) || right({text}, {keep}) "
        f"ELSE repeat({char}, length({text})) END"
    )


def hmac_parameters(secret: bytes) -> dict[str, bytes]:
    """The query parameters ``pseudonymize_sql`` reads: HMAC-SHA256's inner and outer padded keys (RFC 2104).

    Passed as parameters, never spliced into SQL text, so the secret cannot surface in an error message.
    """
    if len(secret) > _HMAC_BLOCK:
        raise ValueError("HMAC keys longer than a block are hashed first; derive a 32-byte secret instead")
    padded = secret.ljust(_HMAC_BLOCK, b"\0")
    return {"hmac_inner": bytes(b ^ 0x36 for b in padded), "hmac_outer": bytes(b ^ 0x5C for b in padded)}


def pseudonymize_sql(value: str, action: Pseudonymize) -> str:
    """HMAC-SHA256 of the value's UTF-8 text, computed by DuckDB's own SHA-256: in parallel, no Python per value."""
    inner = f"unhex(sha256($hmac_inner || encode(CAST({value} AS VARCHAR))))"
    return f"{sql_literal(action.prefix)} || left(sha256($hmac_outer || {inner}), {action.length})"


def generalize_sql(value: str, action: Generalize) -> str:
    if action.date is not None:
        pattern = "%Y" if action.date == "year" else "%Y-%m"
        return f"strftime(TRY_CAST({value} AS TIMESTAMP), '{pattern}')"
    if action.zip is not None:
        text = f"CAST({value} AS VARCHAR)"
        return f"left({text}, {action.zip}) || repeat('*', greatest(length({text}) - {action.zip}, 0))"
    number = f"TRY_CAST({value} AS DOUBLE)"
    if action.edges is not None:
        edges = action.edges
        cases = [f"WHEN {number} < {edges[0]!r} THEN {sql_literal('<' + number_label(edges[0]))}"]
        for low, high in itertools.pairwise(edges):
            cases.append(f"WHEN {number} < {high!r} THEN {sql_literal(f'[{number_label(low)}, {number_label(high)})')}")
        return f"CASE {' '.join(cases)} WHEN {number} IS NOT NULL THEN {sql_literal(number_label(edges[-1]) + '+')} END"
    assert action.width is not None  # the policy's validator allows exactly one kind
    lower = f"floor({number} / {action.width!r}) * {action.width!r}"
    label = f"'[' || {_sql_number(lower)} || ', ' || {_sql_number(f'{lower} + {action.width!r}')} || ')'"
    if action.top is None:
        return label
    return f"CASE WHEN {number} >= {action.top!r} THEN {sql_literal(number_label(action.top) + '+')} ELSE {label} END"


def _sql_number(expression: str) -> str:
    # Rounded so that 0.1-wide bins read 0.3, not 0.30000000000000004; "30.0" loses its ".0" like number_label's.
    return rf"regexp_replace(CAST(round({expression}, 9) AS VARCHAR), '\.0$', '')"


class Encryptor:
    """AES-256-GCM of each value's UTF-8 text under one data key, with a fresh random 96-bit nonce per value."""

    def __init__(self, data_key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aead = AESGCM(data_key)

    def __call__(self, values: pa.ChunkedArray | pa.Array) -> pa.Array:
        import pyarrow as pa

        items = values.to_pylist()
        nonces = os.urandom(_NONCE_BYTES * len(items))  # one system call per batch
        out: list[str | None] = []
        for i, item in enumerate(items):
            if item is None:
                out.append(None)
                continue
            nonce = nonces[i * _NONCE_BYTES : (i + 1) * _NONCE_BYTES]
            sealed = self._aead.encrypt(nonce, item.encode("utf-8"), None)
            out.append(base64.b64encode(nonce + sealed).decode("ascii"))
        return pa.array(out, pa.string())


class Decryptor:
    """The plaintexts of ``Encryptor`` output; ``cryptography.exceptions.InvalidTag`` for a token altered or sealed
    under another key, ``ValueError`` for one that is not base64."""

    def __init__(self, data_key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aead = AESGCM(data_key)

    def __call__(self, values: pa.ChunkedArray | pa.Array) -> pa.Array:
        import pyarrow as pa

        return pa.array([None if token is None else self.decrypt(token) for token in values.to_pylist()], pa.string())

    def decrypt(self, token: str) -> str:
        raw = base64.b64decode(token, validate=True)
        return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], None).decode("utf-8")


def decrypt_values(tokens: Iterable[str | None], data_key: bytes) -> list[str | None]:
    """The plaintexts of ``Encryptor`` output, as ``Decryptor`` gives them."""
    decryptor = Decryptor(data_key)
    return [None if token is None else decryptor.decrypt(token) for token in tokens]


class EntitySpan(Protocol):
    """What the entity detector reports for one entity found in a text."""

    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def entity(self) -> str: ...
    @property
    def score(self) -> float: ...


FindEntities = Callable[[str], Sequence[EntitySpan]]


class Redactor:
    """Entities inside free text replaced by ``<ENTITY>`` tags, using the dataset scanner's entity detector."""

    def __init__(self, action: Redact, find: FindEntities | None = None) -> None:
        if find is None:
            import functools

            from bastion.scanners.data.entities import find_entities

            # Searching for the wanted entities only is faster, and a wanted span cannot lose to an unwanted one.
            find = functools.partial(find_entities, entities=action.entities or None)
        self._find = find
        self._entities = frozenset(action.entities)
        self._min_score = action.min_score

    def __call__(self, values: pa.ChunkedArray | pa.Array) -> pa.Array:
        import pyarrow as pa

        return pa.array([None if text is None else self.redact(text) for text in values.to_pylist()], pa.string())

    def redact(self, text: str) -> str:
        spans = sorted(
            (
                span
                for span in self._find(text)
                if span.score >= self._min_score and (not self._entities or span.entity in self._entities)
            ),
            key=lambda span: span.start,
        )
        # Overlapping spans are merged and redacted whole: skipping one would leave part of an entity in view.
        merged: list[tuple[int, int, str, float]] = []
        for span in spans:
            if merged and span.start < merged[-1][1]:
                start, end, entity, score = merged[-1]
                if span.score > score:
                    entity, score = span.entity, span.score
                merged[-1] = (start, max(end, span.end), entity, score)
            else:
                merged.append((span.start, span.end, span.entity, span.score))
        parts, position = [], 0
        for start, end, entity, _ in merged:
            parts += [text[position:start], f"<{entity}>"]
            position = end
        parts.append(text[position:])
        return "".join(parts)
