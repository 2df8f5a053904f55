"""Teams' own rules in gitleaks' TOML format: rules, allowlists, extension, Go regex syntax, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.scanners.code import SecretScanner
from bastion.scanners.code._matcher import Matcher
from bastion.scanners.code.gitleaks_config import GitleaksConfigError, load_gitleaks_config, translate_go_regex
from tests.code import samples

INTERNAL_RULE = """
[[rules]]
id = "acme-internal-token"
description = "ACME internal token"
regex = '''acme[_-]?token\\s*=\\s*['"](?i)(acme_[a-z0-9]{24})['"]'''
secretGroup = 1
entropy = 3.0
keywords = ["ACME_"]
"""


def scan_with(config: Path, text: str, path: str = "app/settings.py") -> list[str]:
    matcher = Matcher(load_gitleaks_config(config))
    return [m.rule.id for m in matcher.matches(text.encode(), path=path, code=True)]


def write(tmp_path: Path, text: str, name: str = ".gitleaks.toml") -> Path:
    config = tmp_path / name
    config.write_text(text)
    return config


def acme_token() -> str:
    return "ACME_" + samples.pick("abcdefghijklmnopqrstuvwxyz0123456789", 24)


def test_a_custom_rule_replaces_the_defaults_unless_extended(tmp_path: Path) -> None:
    token, key_id = acme_token(), samples.aws_key_id()
    text = f'acme_token = "{token}"\nKEY = "{key_id}"\n'
    alone = write(tmp_path, INTERNAL_RULE)
    assert scan_with(alone, text) == ["code.secret.acme-internal-token"]
    extended = write(tmp_path, "[extend]\nuseDefault = true\n" + INTERNAL_RULE, "extended.toml")
    assert scan_with(extended, text) == ["code.secret.acme-internal-token", "code.secret.aws-access-key-id"]
    low_entropy = f'acme_token = "ACME_{"a" * 24}"\n'
    assert scan_with(alone, low_entropy) == []


def test_allowlists_stopwords_regexes_paths_and_conditions(tmp_path: Path) -> None:
    token = acme_token()
    config = write(
        tmp_path,
        INTERNAL_RULE
        + """
[[rules.allowlists]]
stopwords = ["deadbeef"]
[[rules.allowlists]]
regexTarget = "line"
regexes = ['''#\\s*notsecret''']

[allowlist]
paths = ['''(?:^|/)fixtures/''']

[[allowlists]]
condition = "AND"
paths = ['''\\.md$''']
regexes = ['''^ACME_0''']
""",
    )
    assert scan_with(config, f'acme_token = "{token}"\n') == ["code.secret.acme-internal-token"]
    assert scan_with(config, f'acme_token = "{token[:-8]}deadbeef"\n') == []
    assert scan_with(config, f'acme_token = "{token}"  # notsecret\n') == []
    assert scan_with(config, f'acme_token = "{token}"\n', path="tests/fixtures/keys.py") == []
    zero = "ACME_0" + token[6:]
    assert scan_with(config, f'acme_token = "{zero}"\n', path="docs/setup.md") == []
    assert scan_with(config, f'acme_token = "{zero}"\n', path="src/setup.py") == ["code.secret.acme-internal-token"]


def test_extend_a_file_and_disable_rules(tmp_path: Path) -> None:
    write(tmp_path, "[extend]\nuseDefault = true\n" + INTERNAL_RULE, "base.toml")
    config = write(tmp_path, '[extend]\npath = "base.toml"\ndisabledRules = ["aws-access-key-id"]\n')
    text = f'acme_token = "{acme_token()}"\nKEY = "{samples.aws_key_id()}"\nT = "{samples.github_token()}"\n'
    assert scan_with(config, text) == ["code.secret.acme-internal-token", "code.secret.github-token"]


def test_a_cycle_of_extends_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, '[extend]\npath = "b.toml"\n', "a.toml")
    write(tmp_path, '[extend]\npath = "a.toml"\n', "b.toml")
    with pytest.raises(GitleaksConfigError, match="leads back to itself"):
        load_gitleaks_config(tmp_path / "a.toml")


@pytest.mark.parametrize(
    ("go", "python"),
    [
        ("a(?i)b|c", "a(?i:b)|(?i:c)"),
        ("(?i)key\\z", "(?i)key\\Z"),
        ("(?<tok>[[:alnum:]]{8})", "(?P<tok>[0-9A-Za-z]{8})"),
        ("\\Qa.b\\E", "a\\.b"),
        ("x(?:y(?i)z)", "x(?:y(?i:z))"),
    ],
)
def test_go_regex_syntax_is_translated(go: str, python: str) -> None:
    assert translate_go_regex(go) == python


@pytest.mark.parametrize(
    ("regex", "message"),
    [
        ("\\p{Greek}+", "Unicode class"),
        ("(?U)a+", "ungreedy"),
        ("(unclosed", "does not compile"),
    ],
)
def test_untranslatable_regexes_name_the_rule(tmp_path: Path, regex: str, message: str) -> None:
    config = write(tmp_path, f"[[rules]]\nid = 'broken-rule'\nregex = '''{regex}'''\n")
    with pytest.raises(GitleaksConfigError, match=message) as caught:
        load_gitleaks_config(config)
    assert "'broken-rule'" in str(caught.value) and str(config) in str(caught.value)


def test_invalid_toml_and_missing_ids_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(GitleaksConfigError, match="not valid TOML"):
        load_gitleaks_config(write(tmp_path, "[[rules]\nid = 1"))
    with pytest.raises(GitleaksConfigError, match="has no id"):
        load_gitleaks_config(write(tmp_path, "[[rules]]\nregex = 'x'\n", "noid.toml"))


def test_bastion_scan_takes_secret_rules(tmp_path: Path, scan_json, run_bastion) -> None:  # type: ignore[no-untyped-def]
    project = tmp_path / "project"
    project.mkdir()
    token = acme_token()
    (project / "settings.py").write_text(f'acme_token = "{token}"\n')
    config = write(tmp_path, "[extend]\nuseDefault = true\n" + INTERNAL_RULE)
    status, document = scan_json(str(project), "--secret-rules", str(config))
    assert status == 1
    (finding,) = document["findings"]
    assert finding["rule_id"] == "code.secret.acme-internal-token"
    assert token not in finding["evidence"]
    status, document = scan_json(str(project))
    assert [f["rule_id"] for f in document["findings"]] == ["code.secret.generic-secret"], "Bastion's own rules only"

    broken = write(tmp_path, "[[rules]]\nid = 'x'\nregex = '''\\p{L}'''\n", "broken.toml")
    result = run_bastion("scan", str(project), "--secret-rules", str(broken))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "broken.toml" in result.stderr and "'x'" in result.stderr


def test_the_scanner_reads_the_config_named_in_its_options(tmp_path: Path) -> None:
    from bastion.core import Kind
    from bastion.scanners import ScanOptions, ScanTarget

    config = write(tmp_path, INTERNAL_RULE)
    data = f'acme_token = "{acme_token()}"\n'.encode()
    target = ScanTarget(Path("s.py"), "s.py", Kind.CODE, "python", len(data), ScanOptions(secret_rules=config), data)
    assert [f.rule_id for f in SecretScanner().scan(target)] == ["code.secret.acme-internal-token"]


GITLEAKS_STYLE = r"""
[allowlist]
paths = ['''(?i)\.(?:bmp|gif|jpe?g|png|svg|tiff?)$''', '''(?:^|/)node_modules(?:/.*)?$''']
regexes = ['''(?i)^true|false|null$''', '''^\$(?:\d+|{\d+})$''', '''^/Users/(?i)[a-z0-9]+/[\w .-/]+$''']
stopwords = ["abcdefghijklmnopqrstuvwxyz"]

[[rules]]
id = "adobe-client-secret"
regex = '''\b(p8e-(?i)[a-z0-9]{32})(?:[\x60'"\s;]|\\[nr]|$)'''
entropy = 2
keywords = ["p8e-"]

[[rules]]
id = "atlassian-api-token"
regex = '''(?i)[\w.-]{0,50}?(?:(?-i:JIRA|[Jj]ira))(?:[ \t\w.-]{0,20})[\s'"]{0,3}(?:=|:|=>)[\x60'"\s=]{0,5}([a-z0-9]{24})'''
entropy = 3.5
keywords = ["jira"]
"""


def test_rules_written_as_in_gitleaks_default_config_load_and_match(tmp_path: Path) -> None:
    config = write(tmp_path, GITLEAKS_STYLE)
    adobe = "p8e-" + samples.pick("ABCDEFabcdef0123456789", 32)
    jira = samples.pick("abcdefghijklmnopqrstuvwxyz0123456789", 20) + samples.pick("abcdef0123456789", 4)
    text = f'ADOBE = "{adobe}"\nJIRA_TOKEN = "{jira}"\n'
    assert scan_with(config, text) == ["code.secret.adobe-client-secret", "code.secret.atlassian-api-token"]
    assert scan_with(config, text, path="web/node_modules/x/index.js") == []
