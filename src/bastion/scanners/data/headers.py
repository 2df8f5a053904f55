"""Column headers as evidence: ``"Geburtsdatum"``, ``"dateOfBirth"`` and ``"DOB"`` all say date of birth.

A header is normalised (accents dropped, camelCase and separators split, lower case) into tokens; a hint
phrase matches when its tokens occur in a row, when it equals a token written without separators
(``firstname``), or opens a token (``phonenumber`` starts with ``phone``; never ends one, or ``city``
would match ``ethnicity``). Scripts without word separators (CJK) match as substrings.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[^0-9a-zа-яё\u0370-\u03ff\u0590-\u06ff\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]+")
_UNSEPARATED_SCRIPT = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_MIN_PREFIX = 4
"""A hint opens a longer token only when it has at least this many letters (``zip`` must not match ``zipper``)."""


def header_tokens(header: str) -> tuple[str, ...]:
    """``"Customer_EMailAddress"`` → ``("customer", "e", "mail", "address")``."""
    spaced = _CAMEL.sub(" ", header)
    # Keep Cyrillic, Greek, Hebrew, Arabic and CJK; drop Latin accents (é → e, ß stays via casefold → ss).
    decomposed = unicodedata.normalize("NFKD", spaced.casefold())
    plain = unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))
    return tuple(token for token in _SEPARATORS.split(plain) if token)


def hint(phrases: str, exclude: str = "") -> HeaderHint:
    """A hint from ``|``-separated phrases: ``hint("email|e mail|courriel")``."""
    return HeaderHint(tuple(phrases.split("|")), tuple(exclude.split("|")) if exclude else ())


@dataclass(frozen=True, slots=True)
class HeaderHint:
    """Phrases that name an entity in a column header, and words that rule it out."""

    phrases: tuple[str, ...]
    """Space-separated, normalised like a header: ``"date of birth"``, ``"geburtsdatum"``."""
    exclude: tuple[str, ...] = ()
    """A header holding one of these is not this entity (``file name`` is not a person)."""

    def matches(self, tokens: tuple[str, ...]) -> bool:
        return _compiled(self.phrases).matches(tokens) and not (self.exclude and _compiled(self.exclude).matches(tokens))


class HintIndex:
    """Hints by key (an entity's name), to look a header up against all of them at once."""

    def __init__(self, hints: dict[str, HeaderHint]) -> None:
        self._hints = hints
        # Most headers match no hint: one look-up over every phrase settles those, instead of one per hint.
        self._any = _compiled(tuple(sorted({phrase for each in hints.values() for phrase in each.phrases})))

    def matching(self, tokens: tuple[str, ...]) -> set[str]:
        """The keys whose hint matches a header's ``tokens``."""
        if not self._any.matches(tokens):
            return set()
        return {key for key, each in self._hints.items() if each.matches(tokens)}


@dataclass(frozen=True, slots=True)
class _Phrases:
    """Hint phrases arranged for quick look-ups (40 entities times 10,000 columns must stay cheap)."""

    words: frozenset[str]
    """Phrases as written without separators: ``"date of birth"`` → ``dateofbirth``."""
    openers: tuple[str, ...]
    """Those of at least ``_MIN_PREFIX`` letters, which may open a longer token."""
    spaced: tuple[str, ...]
    """Multi-word phrases, padded with spaces, to find in the spaced header."""
    unseparated: tuple[str, ...]
    """CJK phrases, found as substrings."""

    def matches(self, tokens: tuple[str, ...]) -> bool:
        if not tokens:
            return False
        if any(t in self.words or t.startswith(self.openers) for t in tokens):
            return True
        spaced = " " + " ".join(tokens) + " "
        if any(p in spaced for p in self.spaced):
            return True
        joined = "".join(tokens)
        if self.unseparated and any(p in joined for p in self.unseparated):
            return True
        # Single words written apart in the header ("e mail", "post code").
        return any(tokens[i] + tokens[i + 1] in self.words for i in range(len(tokens) - 1))


@functools.cache
def _compiled(phrases: tuple[str, ...]) -> _Phrases:
    words = {p.replace(" ", "") for p in phrases if not _UNSEPARATED_SCRIPT.search(p)}
    return _Phrases(
        words=frozenset(words),
        openers=tuple(sorted(w for w in words if len(w) >= _MIN_PREFIX)),
        spaced=tuple(f" {p} " for p in phrases if " " in p),
        unseparated=tuple(p.replace(" ", "") for p in phrases if _UNSEPARATED_SCRIPT.search(p)),
    )
