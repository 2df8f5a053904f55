"""gitleaks' TOML configuration, read so a team brings its own rules: ``bastion scan --secret-rules .gitleaks.toml``.

What is read: ``[[rules]]`` (``id``, ``description``, ``regex``, ``secretGroup``, ``entropy``, ``keywords``,
``path``, and ``[[rules.allowlists]]`` or the older ``[rules.allowlist]``), the global ``[allowlist]`` and
``[[allowlists]]`` (``regexes``, ``regexTarget``, ``paths``, ``stopwords``, ``condition``, ``targetRules``), and
``[extend]`` (``useDefault`` adds Bastion's own rules, ``path`` another config, ``disabledRules`` drops rules).
A rule's id becomes ``code.secret.<id>``; a rule of the same id replaces the one it extends.

Not read: ``commits`` (a file scan has no history) and path-only rules (rules with a ``path`` but no ``regex``
name binary files such as ``.p12`` keystores, whose content Bastion does not search for text) are skipped.

Go's regular expressions are translated where Python's ``re`` spells them differently (a flag group such
as ``(?i)`` in the middle, ``\\z``, ``(?<name>``, ``\\Q…\\E``, POSIX classes); what cannot be translated
(``\\p{…}`` classes, the ``U`` flag) is an error naming the rule.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bastion.core import BastionError, Severity
from bastion.scanners.code._matcher import RuleSet
from bastion.scanners.code.rules import Allowlist, SecretRule, default_rules

RULE_PREFIX = "code.secret."
_IMPORTED_BACK = 256
_IMPORTED_FORWARD = 2048
_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7F",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1F\\x7F",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_FLAG_GROUP = re.compile(r"\(\?([imsU]*(?:-[imsU]+)?)\)")


class GitleaksConfigError(BastionError):
    """A gitleaks config could not be read; the message names the file, the rule and what to fix."""


def load_gitleaks_config(path: str | Path) -> RuleSet:
    """The rules and global allowlists of the gitleaks config at ``path`` (and of the configs it extends)."""
    return _load(Path(path), ())


def _load(path: Path, chain: tuple[Path, ...]) -> RuleSet:
    import tomllib

    resolved = path.resolve()
    if resolved in chain:
        raise GitleaksConfigError(f"{path}: [extend] path leads back to itself; remove the cycle")
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GitleaksConfigError(f"{path}: no such gitleaks config") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GitleaksConfigError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise GitleaksConfigError(f"{path}: not valid TOML ({exc}); fix the file") from None

    extend = _table(document, "extend", path)
    base = RuleSet(())
    if extend.get("path"):
        base = _load(path.parent / str(extend["path"]), (*chain, resolved))
    if extend.get("useDefault"):
        base = RuleSet((*default_rules(), *base.rules), base.allowlists)
    disabled = {_rule_id(str(name)) for name in _list(extend, "disabledRules", path, "[extend]")}

    global_allowlists = [_allowlist(_table(document, "allowlist", path), path, "[allowlist]")] if "allowlist" in document else []
    targeted: dict[str, list[Allowlist]] = {}
    for index, table in enumerate(_tables(document, "allowlists", path, "")):
        allowlist = _allowlist(table, path, f"[[allowlists]] #{index + 1}")
        targets = _list(table, "targetRules", path, f"[[allowlists]] #{index + 1}")
        if targets:
            for target in targets:
                targeted.setdefault(_rule_id(str(target)), []).append(allowlist)
        else:
            global_allowlists.append(allowlist)

    rules: list[SecretRule] = []
    for index, table in enumerate(_tables(document, "rules", path, "")):
        rule = _rule(table, path, index)
        if rule is not None:
            rules.append(rule)
    own = {rule.id for rule in rules}
    merged = [*rules, *(rule for rule in base.rules if rule.id not in own)]
    merged = [_with_allowlists(rule, targeted.get(rule.id, ())) for rule in merged if rule.id not in disabled]
    return RuleSet(tuple(merged), (*base.allowlists, *global_allowlists))


def _rule(table: dict[str, Any], path: Path, index: int) -> SecretRule | None:
    name = table.get("id")
    if not isinstance(name, str) or not name:
        raise GitleaksConfigError(f"{path}: [[rules]] #{index + 1} has no id; give every rule an id")
    where = f"rule {name!r}"
    regex = table.get("regex")
    if regex is None:
        return None  # a path-only rule (see the module docstring)
    if not isinstance(regex, str):
        raise GitleaksConfigError(f"{path}: {where}: regex must be a string")
    pattern = compile_go_regex(regex, path, where)
    secret_group = table.get("secretGroup")
    if secret_group is not None and (not isinstance(secret_group, int) or secret_group < 0 or secret_group > pattern.groups):
        raise GitleaksConfigError(f"{path}: {where}: secretGroup {secret_group} does not exist in its regex")
    entropy = table.get("entropy", 0.0)
    if not isinstance(entropy, (int, float)):
        raise GitleaksConfigError(f"{path}: {where}: entropy must be a number")
    keywords = tuple(str(keyword).lower().encode() for keyword in _list(table, "keywords", path, where) if str(keyword))
    rule_path = table.get("path")
    allowlists = [_allowlist(table["allowlist"], path, f"{where} [rules.allowlist]")] if "allowlist" in table else []
    allowlists.extend(
        _allowlist(item, path, f"{where} [[rules.allowlists]] #{n + 1}")
        for n, item in enumerate(_tables(table, "allowlists", path, where))
    )
    return SecretRule(
        id=_rule_id(name),
        description=str(table.get("description") or name),
        keywords=keywords,
        pattern=pattern,
        severity=Severity.HIGH,
        secret_group=secret_group or None,
        min_entropy=float(entropy),
        back=_IMPORTED_BACK,
        forward=_IMPORTED_FORWARD,
        paths=_compile_path(str(rule_path), path, where) if rule_path else None,
        allowlists=tuple(allowlists),
    )


def _allowlist(table: Any, path: Path, where: str) -> Allowlist:
    if not isinstance(table, dict):
        raise GitleaksConfigError(f"{path}: {where} must be a table")
    target = str(table.get("regexTarget") or "secret").lower()
    if target not in ("secret", "match", "line"):
        raise GitleaksConfigError(f"{path}: {where}: regexTarget must be secret, match or line, not {target!r}")
    condition = str(table.get("condition") or "OR").upper()
    if condition not in ("OR", "AND"):
        raise GitleaksConfigError(f"{path}: {where}: condition must be OR or AND, not {condition!r}")
    return Allowlist(
        regexes=tuple(compile_go_regex(str(regex), path, where) for regex in _list(table, "regexes", path, where)),
        regex_target=target,
        paths=tuple(_compile_path(str(item), path, where) for item in _list(table, "paths", path, where)),
        stopwords=tuple(str(word).lower() for word in _list(table, "stopwords", path, where)),
        condition_and=condition == "AND",
    )


def _with_allowlists(rule: SecretRule, extra: Any) -> SecretRule:
    if not extra:
        return rule
    from dataclasses import replace

    return replace(rule, allowlists=(*rule.allowlists, *extra))


def _rule_id(name: str) -> str:
    return name if name.startswith(RULE_PREFIX) else RULE_PREFIX + name


def _table(document: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, dict):
        raise GitleaksConfigError(f"{path}: [{key}] must be a table")
    return value


def _tables(document: dict[str, Any], key: str, path: Path, where: str) -> list[dict[str, Any]]:
    value = document.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise GitleaksConfigError(f"{path}: {where + ': ' if where else ''}{key} must be an array of tables ([[{key}]])")
    return value


def _list(table: dict[str, Any], key: str, path: Path, where: str) -> list[Any]:
    value = table.get(key, [])
    if not isinstance(value, list):
        raise GitleaksConfigError(f"{path}: {where}: {key} must be a list")
    return value


def _compile_path(regex: str, path: Path, where: str) -> re.Pattern[str]:
    try:
        return re.compile(translate_go_regex(regex))
    except (re.error, ValueError) as exc:
        raise GitleaksConfigError(f"{path}: {where}: path regex {regex!r} is not valid ({exc})") from None


def compile_go_regex(regex: str, path: Path, where: str) -> re.Pattern[bytes]:
    """A Go (RE2) regular expression compiled for Python's ``re`` over bytes, or an error naming the rule."""
    try:
        return re.compile(translate_go_regex(regex).encode("utf-8"))
    except ValueError as exc:
        raise GitleaksConfigError(f"{path}: {where}: {exc}; rewrite the regex without it") from None
    except re.error as exc:
        raise GitleaksConfigError(f"{path}: {where}: regex does not compile in Python ({exc}): {regex!r}") from None


def translate_go_regex(regex: str) -> str:
    """Go's syntax where Python's differs: flag groups mid-pattern become scoped, ``\\z`` → ``\\Z``, and so on.

    ``ValueError`` for what Python's ``re`` has no equivalent of.
    """
    out: list[str] = []
    scoped: list[list[str]] = [[]]  # per open group: the flags of the scoped groups to close with it
    i, n, in_class = 0, len(regex), False
    while i < n:
        char = regex[i]
        if char == "\\" and i + 1 < n:
            following = regex[i + 1]
            if following == "Q":
                end = regex.find("\\E", i + 2)
                literal = regex[i + 2 : end if end >= 0 else n]
                out.append(re.escape(literal))
                i = end + 2 if end >= 0 else n
                continue
            if following in "pP":
                raise ValueError(f"Unicode class \\{following}{{…}} is not supported by Python's re")
            if following == "C":
                raise ValueError("\\C (any byte) is not supported by Python's re")
            out.append("\\Z" if following == "z" else regex[i : i + 2])
            i += 2
            continue
        if in_class:
            posix = re.match(r"\[:(\^?)([a-z]+):\]", regex[i:])
            if posix:
                negated, name = posix.groups()
                if name not in _POSIX_CLASSES or negated:
                    raise ValueError(f"POSIX class [:{negated}{name}:] is not supported")
                out.append(_POSIX_CLASSES[name])
                i += posix.end()
                continue
            if char == "]":
                in_class = False
            out.append(char)
            i += 1
            continue
        if char == "[":
            in_class = True
            out.append(char)
            i += 1
            if i < n and regex[i] == "^":
                out.append("^")
                i += 1
            if i < n and regex[i] == "]":  # a leading ] is a literal in Go
                out.append("\\]")
                i += 1
            continue
        if char == "(":
            flags = _FLAG_GROUP.match(regex, i)
            if flags:
                if "U" in flags.group(1):
                    raise ValueError("the U (ungreedy) flag is not supported by Python's re")
                if i == 0:
                    out.append(flags.group(0))
                else:  # Python allows global flags only at the start: scope them to the rest of the group
                    out.append(f"(?{flags.group(1)}:")
                    scoped[-1].append(flags.group(1))
                i = flags.end()
                continue
            if regex.startswith("(?<", i) and not regex.startswith(("(?<=", "(?<!"), i):
                out.append("(?P<")
                i += 3
            else:
                out.append(char)
                i += 1
            scoped.append([])
            continue
        if char == ")":
            pending = scoped.pop() if len(scoped) > 1 else []
            out.append(")" * len(pending) + ")")
            i += 1
            continue
        if char == "|" and scoped[-1]:
            # In Go a flag set mid-group holds to the group's end, across "|": close the scopes and reopen them.
            out.append(")" * len(scoped[-1]) + "|" + "".join(f"(?{flags}:" for flags in scoped[-1]))
            i += 1
            continue
        out.append(char)
        i += 1
    out.append(")" * len(scoped[0]))
    return "".join(out)
