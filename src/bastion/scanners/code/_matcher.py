"""Running a rule set over bytes: one keyword pass, patterns near the keywords, then the checks.

One Aho-Corasick pass over the lowered bytes finds every keyword of every rule; each rule's pattern
then runs only in short windows around its keywords' places (within the line, unless the secret
spans lines). Strings split by ``+`` are joined, and base64 values decoded, and both scanned again
once, so ``"AKIA" + "…"`` and ``base64("ghp_…")`` are found. Where matches of two rules overlap,
the earlier (more specific) rule is kept.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

from bastion.scanners.code._context import allowed, shannon_entropy
from bastion.scanners.code.rules import Allowlist, SecretRule

_CONCAT_KEYWORDS = (b'" +', b"' +", b'"+', b"'+", b'+ "', b"+ '", b'+"', b"+'")
_LITERAL = rb""""[^"\\\r\n]{0,256}"|'[^'\\\r\n]{0,256}'"""
_STRING_CONCAT = re.compile(rb"(?:" + _LITERAL + rb")(?:\s*\+\s*(?:" + _LITERAL + rb"))+")
_LITERAL_BODY = re.compile(rb""""([^"\\\r\n]*)"|'([^'\\\r\n]*)'""")
_BASE64 = re.compile(rb"[\"'`=:][ \t]*([A-Za-z0-9+/]{16,4096}+={0,2})(?![A-Za-z0-9+/=_\-])")
"""A base64 value where values are written: quoted or assigned (a bare search costs three times the whole scan)."""
_PRINTABLE = frozenset(range(32, 127)) | {9, 10, 13}
_CONCAT_REACH = 256
_CONCAT_CONFIDENCE = 0.85


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules a scan uses and the allowlists that apply to all of them."""

    rules: tuple[SecretRule, ...]
    """Most specific first: where two match the same bytes, the earlier is reported."""
    allowlists: tuple[Allowlist, ...] = ()
    """Global allowlists (gitleaks' ``[allowlist]``)."""


@dataclass(frozen=True, slots=True)
class SecretMatch:
    """One secret found: where, by which rule, how sure."""

    rule: SecretRule
    start: int
    """Byte offset of the secret (of the whole encoded or split string, when ``encoding`` is set)."""
    end: int
    secret: str
    confidence: float
    encoding: str | None = None
    """``base64`` or ``concatenation`` when the secret was found only once decoded or joined."""


class Matcher:
    """A rule set compiled for scanning: its keyword automaton and which rules each keyword wakes."""

    def __init__(self, ruleset: RuleSet) -> None:
        from ahocorasick_rs import BytesAhoCorasick

        self.ruleset = ruleset
        owners: dict[bytes, list[int]] = {}
        for index, rule in enumerate(ruleset.rules):
            for keyword in rule.keywords:
                owners.setdefault(keyword.lower(), []).append(index)
        keywords = list(owners)
        self._rules_of = [tuple(owners[keyword]) for keyword in keywords]
        self._unkeyed = tuple(index for index, rule in enumerate(ruleset.rules) if not rule.keywords)
        self._automaton = BytesAhoCorasick(keywords + list(_CONCAT_KEYWORDS))

    def matches(self, data: bytes, *, path: str, code: bool) -> list[SecretMatch]:
        """Every secret in ``data`` (the content of ``path``; ``code``: it is source code), sorted by position."""
        if any(_path_allowed(allowlist, path) for allowlist in self.ruleset.allowlists):
            return []
        found, concat_hits = self._scan(data, path, code)
        direct = {(m.rule.id, m.secret) for m in found}
        for match in (*self._joined(data, concat_hits, path, code), *self._decoded(data, path, code)):
            if (match.rule.id, match.secret) not in direct:
                found.append(match)
        return _without_overlaps(found, {rule.id: index for index, rule in enumerate(self.ruleset.rules)})

    def _scan(self, data: bytes, path: str, code: bool) -> tuple[list[SecretMatch], list[int]]:
        """Matches of every rule whose keyword occurs, and where ``"…" +`` joins occur."""
        hits = self._automaton.find_matches_as_indexes(data.lower(), overlapping=True)
        owners, concat = len(self._rules_of), []
        positions: dict[int, list[int]] = {index: [-1] for index in self._unkeyed}
        for keyword, start, _end in hits:
            if keyword >= owners:
                concat.append(start)
                continue
            for index in self._rules_of[keyword]:
                positions.setdefault(index, []).append(start)
        found: list[SecretMatch] = []
        for index, places in positions.items():
            rule = self.ruleset.rules[index]
            if rule.paths is not None and rule.paths.search(path) is None:
                continue
            if any(_path_allowed(allowlist, path) for allowlist in rule.allowlists):
                continue
            for start, end in _windows(data, rule, sorted(places)):
                found.extend(self._in_window(data, rule, start, end, path, code))
        return found, concat

    def _in_window(self, data: bytes, rule: SecretRule, start: int, end: int, path: str, code: bool) -> list[SecretMatch]:
        found = []
        for match in rule.pattern.finditer(data, start, end):
            group = rule.secret_group if rule.secret_group is not None else _first_group(match)
            if match.start(group) < 0:
                continue
            raw = match.group(group)
            if not raw or allowed(raw):
                continue
            if rule.context is not None and not rule.context(match, code):
                continue
            secret = raw.decode("utf-8", "replace")
            if rule.min_entropy and shannon_entropy(secret) < rule.min_entropy:
                continue
            verdict = rule.validate(secret) if rule.validate is not None else None
            if verdict is False:
                continue
            if self._allowlisted(rule, match, raw, data, path):
                continue
            confidence = 0.99 if verdict else rule.confidence
            found.append(SecretMatch(rule, match.start(group), match.end(group), secret, confidence))
        return found

    def _allowlisted(self, rule: SecretRule, match: re.Match[bytes], secret: bytes, data: bytes, path: str) -> bool:
        allowlists = (*rule.allowlists, *self.ruleset.allowlists)
        return any(_match_allowed(allowlist, match, secret, data, path) for allowlist in allowlists)

    def _joined(self, data: bytes, hits: list[int], path: str, code: bool) -> list[SecretMatch]:
        """Secrets split into string literals joined by ``+``: scanned again as one literal in its line."""
        found: list[SecretMatch] = []
        done_until = -1
        for hit in sorted(hits):
            if hit < done_until:
                continue
            line = _line_start(data, hit, _CONCAT_REACH)
            if data[line : hit + 1].strip().startswith(b"+"):  # a continued line: the chain began on the line before
                line = _line_start(data, max(0, line - 1), _CONCAT_REACH)
            for chain in _STRING_CONCAT.finditer(data, line, min(len(data), hit + 4 * _CONCAT_REACH)):
                if chain.end() <= hit:
                    continue
                done_until = max(done_until, chain.end())
                joined = b"".join(body[0] or body[1] for body in _LITERAL_BODY.findall(chain.group(0)))
                if len(joined) < 8:
                    break
                prefix = data[_line_start(data, chain.start(), _CONCAT_REACH) : chain.start()] + b'"'
                synthetic = prefix + joined + b'"'
                matches, _ = self._scan(synthetic, path, code)
                found.extend(
                    _relocated(m, chain.start(), chain.end(), "concatenation", _CONCAT_CONFIDENCE)
                    for m in matches
                    if m.end > len(prefix)
                )
                break
        return found

    def _decoded(self, data: bytes, path: str, code: bool) -> list[SecretMatch]:
        """Secrets inside base64 values that decode to text."""
        found: list[SecretMatch] = []
        for candidate in _BASE64.finditer(data):
            encoded = candidate.group(1)
            if len(encoded) % 4 or encoded.isalpha():
                continue
            try:
                decoded = binascii.a2b_base64(encoded, strict_mode=True)
            except (binascii.Error, ValueError):
                continue
            if len(decoded) < 8 or not all(byte in _PRINTABLE for byte in decoded):
                continue
            matches, _ = self._scan(decoded, path, False)
            found.extend(_relocated(m, candidate.start(1), candidate.end(1), "base64", m.confidence) for m in matches)
        return found


def _first_group(match: re.Match[bytes]) -> int:
    """gitleaks' choice when a rule names no group: the first that matched something, else the whole match."""
    return next((index for index, text in enumerate(match.groups(), 1) if text), 0)


def _windows(data: bytes, rule: SecretRule, places: list[int]) -> list[tuple[int, int]]:
    """Where ``rule`` can match around its keywords: bounded by the line (unless multi-line), merged when they touch."""
    windows: list[tuple[int, int]] = []
    size = len(data)
    for place in places:
        if place < 0:
            return [(0, size)]
        start = _line_start(data, place, rule.back)
        end = min(size, place + rule.forward)
        if not rule.multiline:
            newline = data.find(b"\n", place, end)
            end = newline if newline >= 0 else end
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], end))
        else:
            windows.append((start, end))
    return windows


def _line_start(data: bytes, place: int, reach: int) -> int:
    """The start of ``place``'s line, or ``reach`` bytes before it on a long line."""
    low = max(0, place - reach)
    newline = data.rfind(b"\n", low, place)
    return newline + 1 if newline >= 0 else low


def _relocated(match: SecretMatch, start: int, end: int, encoding: str, confidence: float) -> SecretMatch:
    return SecretMatch(match.rule, start, end, match.secret, min(match.confidence, confidence), encoding)


def _path_allowed(allowlist: Allowlist, path: str) -> bool:
    """A global or rule allowlist that skips the whole file (its only check is the path)."""
    if not allowlist.paths or (allowlist.condition_and and (allowlist.regexes or allowlist.stopwords)):
        return False
    return any(pattern.search(path) for pattern in allowlist.paths)


def _match_allowed(allowlist: Allowlist, match: re.Match[bytes], secret: bytes, data: bytes, path: str) -> bool:
    checks: list[bool] = []
    if allowlist.paths:
        checks.append(any(pattern.search(path) for pattern in allowlist.paths))
    if allowlist.regexes:
        if allowlist.regex_target == "match":
            target = match.group(0)
        elif allowlist.regex_target == "line":
            line_start = data.rfind(b"\n", 0, match.start()) + 1
            line_end = data.find(b"\n", match.end())
            target = data[line_start : line_end if line_end >= 0 else len(data)]
        else:
            target = secret
        checks.append(any(pattern.search(target) for pattern in allowlist.regexes))
    if allowlist.stopwords:
        lowered = secret.decode("utf-8", "replace").lower()
        checks.append(any(word in lowered for word in allowlist.stopwords))
    if not checks:
        return False
    return all(checks) if allowlist.condition_and else any(checks)


def _without_overlaps(matches: list[SecretMatch], rank: dict[str, int]) -> list[SecretMatch]:
    """Where matches overlap, the most specific rule's; then sorted by position."""
    kept: list[SecretMatch] = []
    for match in sorted(matches, key=lambda m: (rank.get(m.rule.id, len(rank)), m.encoding is not None, m.start)):
        if all(match.end <= other.start or match.start >= other.end for other in kept):
            kept.append(match)
    return sorted(kept, key=lambda m: (m.start, m.end, m.rule.id))
