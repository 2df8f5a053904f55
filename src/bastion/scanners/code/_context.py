"""Checks that tell a secret from what only looks like one: placeholders, references, digests, names.

Every rule's secret goes through ``allowed``; the keyword-assignment rules also through the check
of the name the value is assigned to, and of how it is written.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections import Counter

_PLACEHOLDER = re.compile(
    rb"(?i)example|xxxxx|\*\*\*\*|\.\.\.\.|placeholder|your[_\-]|yourpass|changeme|change[_\-]me|redacted|dummy|"
    rb"replace[_\-]?me|insert[_\-]|fixme|todo|sample|<[a-z_\- ]+>|\$\{|\{\{|%\(|\$\(|#\{|@@|__[A-Z]+__|"
    rb"(?:^|[^a-z])(?:fake|mock)(?:[^a-z]|$)"
)
"""Marks of a stand-in value: documented examples, ``<your-key>``, templates, masks."""

DOCUMENTED_EXAMPLES = frozenset(
    {
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",  # jwt.io's sample signature
    }
)
"""Credentials published in vendors' documentation."""

_REFERENCE = re.compile(
    rb"^(?:\$[A-Za-z_{(]|%[A-Za-z_]\w*%|%s$|%\(|\{[A-Za-z_]\w*\}$|:[a-z_]+$|[A-Za-z_]\w*\(|"
    rb"(?:os\.environ|os\.getenv|process\.env|env\.|ENV\[|getenv|settings\.|config\.|secrets\.|vault:|ssm:|arn:aws:)"
    rb")"
)
"""Environment lookups and variable references: ``${DB_PASS}``, ``$PASS``, ``%PASS%``, ``{password}``, ``os.environ``."""

_DIGEST = re.compile(
    rb"(?i)^(?:(?:sha(?:1|224|256|384|512)|md5|blake2b?|xxh\d*)[:\-=]|[0-9a-f]{32}$|[0-9a-f]{40}$|[0-9a-f]{56}$|"
    rb"[0-9a-f]{64}$|[0-9a-f]{96}$|[0-9a-f]{128}$)"
)
"""Hashes and digests: ``sha256:…``, ``sha512-…`` integrity values, bare hex digests of the usual lengths."""

_UUID = re.compile(rb"(?i)^\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?$")
_IDENTIFIER = re.compile(
    rb"^(?:[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+(?::[A-Za-z_][A-Za-z0-9_.]*)?|[a-z]+(?:[_\-][a-z0-9]+)*|[A-Z]+(?:[_\-][A-Z0-9]+)*|"
    rb"[a-z]{2,}(?:[A-Z][a-z]{2,})+[0-9]*|(?:[A-Z][a-z]{2,})+[0-9]*)$"
)
"""Names rather than values: ``settings.PASSWORD``, ``pkg.module:function``, ``db_password``, ``DB_PASSWORD``,
``dbPassword``, ``DbPassword``."""
_PATH_OR_URL = re.compile(rb"^(?:[a-z][a-z0-9+.\-]*://|~?/|\.{1,2}/|[A-Za-z]:\\)|\.(?:pem|key|json|txt|ya?ml|env|crt|p12|pfx)$")
_NOT_VALUES = frozenset(
    b"none null nil true false undefined required optional string str bytes int object any secret secrets password "
    b"passwords passwd token tokens key apikey api_key value default empty unset hidden masked private public env "
    b"environ self this bearer basic auth login user username admin root guest test pass".split()
)
_WEAK_PASSWORDS = frozenset(
    b"password password1 password123 passw0rd p@ssw0rd p@ssword 123456 1234567 12345678 123456789 qwerty abc123 "
    b"letmein welcome admin123 secret123 changeit".split()
)
"""Values so common that they are written as stand-ins, not as anyone's password."""

_EXCLUDED_TAILS = (
    "name names id ids type types url uri urls path paths file filename dir len length count field fields "
    "prefix suffix env var header headers hash hashed hasher regex re pattern format policy min max size mode "
    "version label class kind endpoint expiry expires expiration exp ttl timeout scope scopes location "
    "provider source style limit limits index idx list column col hint placeholder prompt message msg error "
    "errors required enabled method validator validation strength reset changed confirm confirmation input "
    "widget helper callback fn func factory manager store cache template attr attribute attrs property prop "
    "option options param params arg args flag flags map mapping dict getter setter loader reader writer "
    "parser handler cls number num position pos offset start end ref refs bucket table db arn region host "
    "port user username login email mask masked generator gen rotation valid invalid match matcher storage "
    "backend service client request response spec schema doc docs help text description title key_id keyid "
    "rule rules entry entries chars alphabet charset encoding bits bytes"
)
_NAME_TAIL_EXCLUDED = frozenset(_EXCLUDED_TAILS.split())
"""Last words of names that hold something about a secret, not the secret: ``token_type``, ``password_hash``."""
_NAME_TAIL_ALLOWED = frozenset(["s", "key", "keys", "value", "val", "str", "string", "data"])
"""Words that may follow a keyword with no separator: ``secrets``, ``secretkey``, ``tokenvalue``."""
_NAME_PREFIX_EXCLUDED = re.compile(
    r"(?i)(?:^|[_.\-])(?:max|min|num|n|is|has|use|no|show|hide|enable|disable|allow|require|check|verify|validate|"
    r"get|set|reset|forgot|new|old|confirm|hash|hashed|salt|prompt|input|field|label|ask|read|load|fetch|generate|"
    r"gen|create|make|parse|encode|decode|refresh_token_url|special|bos|eos|pad|unk|sep|cls|mask|start|end)[_.\-]?$"
)
"""Words before a keyword that make a name about secrets, not one holding a secret: ``max_tokens``, ``is_password``."""


def shannon_entropy(text: str) -> float:
    """Bits per character."""
    if not text:
        return 0.0
    length = len(text)
    return -sum(n / length * math.log2(n / length) for n in Counter(text).values())


def allowed(secret: bytes) -> bool:
    """A stand-in rather than a secret: a placeholder, a documented example, a mask."""
    if _PLACEHOLDER.search(secret) is not None:
        return True
    text = secret.decode("utf-8", "replace")
    if any(example in text for example in DOCUMENTED_EXAMPLES):
        return True
    return len(set(secret)) <= 2  # "aaaaaaaa", "00000000", "-1-1-1-1"


def _value(match: re.Match[bytes]) -> tuple[bytes, bool]:
    """The assigned value and whether it was quoted."""
    start = match.start("value")
    return match.group("value"), match.string[start - 1 : start] in (b'"', b"'", b"`")


def _name_ok(name: bytes, keyword: re.Pattern[str]) -> bool:
    """Whether the assigned name holds a secret rather than something about one."""
    text = name.decode("ascii", "replace").strip("'\"")
    # The last keyword in the name decides: ``secret_token`` ends with ``token``.
    found = next(reversed(list(keyword.finditer(text.lower()))), None)
    if found is None:
        return False
    head, tail = text[: found.start()], text[found.end() :]
    if _NAME_PREFIX_EXCLUDED.search(head.rsplit(".", 1)[-1]) or "public" in head.lower():
        return False  # ``max_tokens``, ``is_password``; a public key or token is not a secret
    if tail and tail[0].islower() and tail.lower() not in _NAME_TAIL_ALLOWED:
        return False  # "tokenizer", "secretary", "passwordless"
    words = re.split(r"[_.\-]+|(?<=[a-z0-9])(?=[A-Z])", tail)
    last = next((word.lower() for word in reversed(words) if word), "")
    return last not in _NAME_TAIL_EXCLUDED


def _plausible_value(value: bytes, quoted: bool, code: bool) -> bool:
    """Not a reference, a name, an expression, a path or a stand-in."""
    if not quoted and (code or value[:1] in b"([{" or b"(" in value):
        return False  # in code an unquoted value is a variable or a call
    stripped = value.strip()
    if not stripped or stripped.lower() in _NOT_VALUES:
        return False
    if _REFERENCE.match(stripped) or _UUID.match(stripped) or _DIGEST.match(stripped) or stripped.startswith(b"data:"):
        return False
    if _PATH_OR_URL.search(stripped) or allowed(stripped):
        return False
    return not (b" " in stripped or b"\t" in stripped)


_PASSWORD_NAME = re.compile(r"password|passwd|passphrase|pwd|(?<![a-z])pass(?![a-z])")
_SECRET_NAME = re.compile(
    r"secret|token|api[_.\-]?key|access[_.\-]?key|auth[_.\-]?key|private[_.\-]?key|credentials?|signing[_.\-]?key|"
    r"encryption[_.\-]?key"
)


def password_assignment(match: re.Match[bytes], code: bool) -> bool:
    """A password written as a value, even a weak one (``"Summer2024!"``), but not a name, a lookup or a stand-in."""
    value, quoted = _value(match)
    if not _name_ok(match.group("name"), _PASSWORD_NAME) or not _plausible_value(value, quoted, code):
        return False
    value = value.strip()
    if not 6 <= len(value.decode("utf-8", "replace")) <= 128 or value.lower() in _WEAK_PASSWORDS or _IDENTIFIER.match(value):
        return False
    # A word alone ("IAmSensitive", "səcrət" in documentation and tests) is not taken for a password;
    # ASCII letters with an ASCII digit or symbol are.
    letters = any(65 <= c <= 90 or 97 <= c <= 122 for c in value)
    others = any(33 <= c <= 126 and not (65 <= c <= 90 or 97 <= c <= 122) for c in value)
    return letters and others


def secret_assignment(match: re.Match[bytes], code: bool) -> bool:
    """A random-looking value (16+ characters, 3+ bits of entropy each) assigned to a secret's name."""
    value, quoted = _value(match)
    if not _name_ok(match.group("name"), _SECRET_NAME) or not _plausible_value(value, quoted, code):
        return False
    value = value.strip()
    if not 12 <= len(value) <= 256 or _IDENTIFIER.match(value):
        return False
    text = value.decode("utf-8", "replace")
    entropy = shannon_entropy(text)
    if any(c.isdigit() for c in text):
        return any(c.isalpha() for c in text) and entropy >= 3.0
    # Letters alone: a long random mix of cases, not a word or a name.
    return len(text) >= 20 and entropy >= 3.5 and any(c.islower() for c in text) and any(c.isupper() for c in text)


_URL_PLACEHOLDER_PASSWORDS = frozenset(
    b"password passwd pass pwd secret token key apikey changeme xxx xxxx *** **** ***** ******** x foo bar baz none null".split()
)


_PASSWORD_WORD = re.compile(rb"pass|pwd|secret|token")


def url_password(match: re.Match[bytes], code: bool) -> bool:
    """``scheme://user:password@host`` with a real-looking password (not ``user:pass``, a template or a port)."""
    user, password = match.group(1), match.group(2)
    if password.lower() in _URL_PLACEHOLDER_PASSWORDS or password == user or password.isdigit():
        return False
    if password.isalpha() and (len(password) < 6 or _PASSWORD_WORD.search(password.lower())):
        return False  # "github://org:repo@sha", "smb://user:mypassword@host" in documentation
    if allowed(password) or _PLACEHOLDER.search(user) or _REFERENCE.match(password):
        return False
    if password.startswith((b"%", b"{", b"$", b"<", b"[")) or password.endswith(b"}"):
        return False
    return len(password) >= 3


def sas_token(match: re.Match[bytes], code: bool) -> bool:
    """A SAS signature is a base64 HMAC-SHA256: 32 bytes once the URL escapes are undone."""
    from urllib.parse import unquote_to_bytes

    signature = unquote_to_bytes(match.group(1))
    try:
        return len(base64.b64decode(signature, validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


def mixed_hex(match: re.Match[bytes], code: bool) -> bool:
    """A Twilio key's 32 hex digits mix letters and digits (a run of one kind is an identifier)."""
    body = match.group(1)[2:]
    return any(48 <= c <= 57 for c in body) and any(c > 57 for c in body)


def not_anthropic(match: re.Match[bytes], code: bool) -> bool:
    """``sk-ant-…`` belongs to the Anthropic rule; an OpenAI key of letters alone is a word, not a key."""
    token = match.group(1)
    return not token.startswith(b"sk-ant-") and any(48 <= c <= 57 for c in token)


def bearer_token(match: re.Match[bytes], code: bool) -> bool:
    token = match.group(1)
    return not allowed(token) and any(48 <= c <= 57 for c in token) and not _IDENTIFIER.match(token)


def jwt(token: str) -> bool | None:
    """A JWT's header and payload decode to JSON objects and the header names an algorithm."""
    parts = token.split(".")
    try:
        header = json.loads(_b64url(parts[0]))
        payload = json.loads(_b64url(parts[1]))
    except (ValueError, binascii.Error, IndexError):
        return False
    return isinstance(header, dict) and isinstance(payload, dict) and "alg" in header


def _b64url(part: str) -> bytes:
    part = part.rstrip("=")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
