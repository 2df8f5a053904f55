"""Integrity rules: rows that break SQL boolean expressions, found in one pass; rule files that are not one safe
expression refused with their file and line; the rule text never run as written; and ``bastion scan --rules``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bastion.core import Category, Severity
from bastion.scanners.data.dataset import Dataset
from bastion.scanners.data.integrity import IntegrityRulesAnalysis, Rule, RulesError, evaluate_rules, load_rules, parse_rules
from bastion.scanners.interface import ScanError, ScanOptions
from tests.conftest import RunBastion

COUNTRIES = ["PRT", "GBR", "FRA"]
BOOKINGS = "id,booking_changes,adults,children,country,arrival,price\n" + "".join(
    f"{i},{i % 4},{1 + i % 3},{'' if i % 10 == 0 else i % 2},{COUNTRIES[i % 3]},2024-01-{1 + i % 28:02d},{(i * 37) % 300 - 5}\n"
    for i in range(1000)
)
RULES = """\
- name: has_booking_changes
  rule: booking_changes > 0
  description: every booking was changed at least once
- name: guests
  rule: adults + children BETWEEN 1 AND 3
  severity: low
- name: known country
  rule: country IN ('PRT', 'GBR', 'ESP')
  severity: HIGH
- name: price
  rule: price >= 0 AND price < 1000   # a trailing comment ) FROM x
- name: winter
  rule: month(arrival) = 1 AND lower(country) LIKE '%r%'
"""


@pytest.fixture
def bookings(tmp_path: Path) -> Path:
    path = tmp_path / "bookings.csv"
    path.write_text(BOOKINGS)
    return path


def write_rules(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def evaluate(path: Path, rules_text: str, source: str = "rules.yaml") -> dict[str, Any]:
    with Dataset(str(path), path.name, "csv") as dataset:
        return {f.rule_id: f for f in evaluate_rules(dataset, parse_rules(rules_text, source))}


def expected_rows(predicate: Any) -> list[int]:
    lines = BOOKINGS.splitlines()[1:]
    return [i for i, line in enumerate(lines) if predicate(*line.split(","))]


# -- evaluation -----------------------------------------------------------------------------------


def test_each_rule_reports_its_breaking_rows(bookings: Path) -> None:
    found = evaluate(bookings, RULES)
    assert set(found) == {
        "data.integrity.rule.has-booking-changes",
        "data.integrity.rule.known-country",
        "data.integrity.rule.price",
        "data.integrity.rule.guests",
    }
    changes = found["data.integrity.rule.has-booking-changes"]
    unchanged = expected_rows(lambda i, changes, *_: changes == "0")
    assert (changes.count, changes.location.row, changes.extra["rows"]) == (len(unchanged), 0, unchanged[:10])
    assert (changes.category, changes.severity) == (Category.DATA_INTEGRITY, Severity.MEDIUM)
    assert changes.message == "250 row(s) break rule 'has_booking_changes': every booking was changed at least once"

    country = found["data.integrity.rule.known-country"]
    assert (country.severity, country.count, country.location.row) == (Severity.HIGH, 333, 2)
    negative = expected_rows(lambda *cells: int(cells[6]) < 0)
    assert (found["data.integrity.rule.price"].count, found["data.integrity.rule.price"].extra["rows"]) == (
        len(negative),
        negative[:10],
    )


def test_unknown_values_pass_like_sql_check_constraints(bookings: Path) -> None:
    # children is missing in every tenth row: adults + children is NULL there, which is not a violation.
    guests = evaluate(bookings, RULES)["data.integrity.rule.guests"]
    breaking = expected_rows(lambda i, c, adults, children, *_: children != "" and not 1 <= int(adults) + int(children) <= 3)
    assert (guests.severity, guests.count, guests.extra["rows"]) == (Severity.LOW, len(breaking), breaking[:10])
    strict = evaluate(bookings, "- name: guests\n  rule: coalesce(adults + children BETWEEN 1 AND 3, false)\n")
    assert strict["data.integrity.rule.guests"].count == len(breaking) + 100


def test_rules_without_breaking_rows_report_nothing(bookings: Path) -> None:
    assert evaluate(bookings, "- name: ids\n  rule: id >= 0 AND id < 1000\n") == {}


def test_the_analysis_runs_only_with_a_rules_file(bookings: Path, tmp_path: Path) -> None:
    analysis = IntegrityRulesAnalysis()
    assert not analysis.applies(ScanOptions())
    options = ScanOptions(rules=write_rules(tmp_path, RULES))
    assert analysis.applies(options)
    with Dataset(str(bookings), "bookings.csv", "csv") as dataset:
        assert len(analysis.analyze(dataset, options)) == 4


# -- the rules file -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "rules.yaml:1: no rules"),
        ("rules: []\n", "rules.yaml:1: the rules file is a list of rules"),
        ("- just a string\n", "rules.yaml:1: a rule is a mapping"),
        ("- name: a\n  rule: 'x > \n", "rules.yaml:3: not valid YAML"),
        ("- name: a\n", "rules.yaml:1: rule 'a': no rule"),
        ("- rule: x > 1\n", "rules.yaml:1: a rule needs a name"),
        ("- name: a\n  rule: x > 1\n  colour: red\n", "rules.yaml:3: unknown key 'colour'"),
        ("- name: a\n  rule: [1, 2]\n", "rules.yaml:2: rule must be text"),
        ("- name: a\n  rule: x > 1\n  severity: severe\n", "rules.yaml:3: rule 'a': unknown severity 'severe'"),
        (
            "- name: a b\n  rule: x > 1\n- name: A-B\n  rule: y > 1\n",
            "rules.yaml:3: rule 'A-B': the same name as the rule on line 1",
        ),
        ("- name: a\n  rule: x >\n", "rules.yaml:2: rule 'a': not an SQL expression"),
    ],
)
def test_mistakes_in_the_rules_file_name_the_line(text: str, message: str) -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "rules.yaml")
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_rules_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match=r"missing\.yaml: rules file not found"):
        load_rules(tmp_path / "missing.yaml")


FORBIDDEN = {
    "x > 0; DROP TABLE data": "';' is not allowed",
    "(SELECT max(x) FROM data) > 1": "a subquery",
    "x IN (SELECT 1)": "a subquery",
    "EXISTS (SELECT * FROM read_csv('/etc/passwd'))": "a subquery",
    "read_csv('/etc/passwd') IS NULL": "function read_csv()",
    "read_text('/etc/hostname') IS NULL": "function read_text()",
    "length(getenv('HOME')) > 0": "function getenv()",
    "current_setting('memory_limit') = ''": "function current_setting()",
    "length(query('SELECT 1')) > 0": "function query()",
    "sum(x) > 1": "function sum()",
    "count(*) > 1": "function count_star()",
    "sum(x) OVER () > 1": "a window function",
    "length(repeat('a', 1000000000)) > 0": "function repeat()",
    "list_transform([1], y -> y) = [1]": "function list_transform()",
    "main.lower(x) = 'a'": "function main.lower",
    "x::GEOMETRY IS NULL": "a cast to GEOMETRY",
    "$1": "a parameter",
    "x = ?": "a parameter",
    "#1 > 0": "a positional reference",
    "COLUMNS('a') > 1": "* is not allowed",
    "data.x > 1": "refer to a column by its name alone",
    "x COLLATE nocase = 'a'": "COLLATE",
    "x), (y": "cannot add clauses or tables",
    "x) FROM data WHERE (true": "not an SQL expression",
    "1) FROM data UNION ALL SELECT (1": "cannot add clauses or tables",
    "x) FROM data, read_csv('/etc/passwd') --": "not an SQL expression",
    "x) FROM data /*": "not an SQL expression",
    "x > 1 UNION SELECT 1": "not an SQL expression",
    "a" * 5000: "longer than 4000 characters",
}


@pytest.mark.parametrize(("expression", "message"), FORBIDDEN.items(), ids=range(len(FORBIDDEN)))
def test_only_one_safe_boolean_expression_is_accepted(expression: str, message: str) -> None:
    text = yaml.safe_dump([{"name": "r", "rule": expression}])
    with pytest.raises(RulesError) as caught:
        parse_rules(text, "rules.yaml")
    assert str(caught.value).startswith("rules.yaml:") and message in str(caught.value), str(caught.value)


def test_allowed_expressions_cover_everyday_conditions(bookings: Path) -> None:
    rules = [
        "price BETWEEN 0 AND 300",
        "CASE WHEN adults > 2 THEN children IS NULL ELSE true END",
        "TRY_CAST(price AS DECIMAL(10, 2)) >= 0",
        "regexp_matches(country, '^[A-Z]{3}$')",
        "arrival >= DATE '2024-01-01' AND year(arrival) = 2024",
        "coalesce(children, 0) <= 1 AND NOT (adults IS NULL)",
        "abs(price) < 1000 AND round(price / 3.0, 1) IS NOT NULL",
        "adults) >= 1 AND (children IS NULL OR children >= 0",  # parentheses need not balance in the text
    ]
    text = yaml.safe_dump([{"name": f"r{i}", "rule": rule} for i, rule in enumerate(rules)])
    found = evaluate(bookings, text)
    assert "data.integrity.rule.r3" not in found and "data.integrity.rule.r4" not in found


def test_the_sql_that_runs_is_generated_from_the_checked_tree(bookings: Path) -> None:
    # A comment that would swallow the closing parenthesis if the text were pasted into the query.
    found = evaluate(bookings, "- name: c\n  rule: |\n    price >= 0 -- ) OR true\n")
    assert found["data.integrity.rule.c"].count == len(expected_rows(lambda *cells: int(cells[6]) < 0))


def test_the_connection_refuses_files_even_if_a_forbidden_tree_got_through(bookings: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("token\nhunter2\n")
    import duckdb

    with duckdb.connect() as connection:
        tree = connection.execute(
            "SELECT json_serialize_sql(?)", [f"SELECT ((SELECT count(*) FROM read_csv('{secret}')) > 0) FROM data"]
        ).fetchall()[0][0]
    smuggled = Rule("smuggled", "…", Severity.MEDIUM, None, "rules.yaml", 1, tree)
    with Dataset(str(bookings), "bookings.csv", "csv") as dataset, pytest.raises(ScanError, match="disabled by configuration"):
        evaluate_rules(dataset, [smuggled])


# -- errors that depend on the dataset ------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("bookings > 0", "rules.yaml:2: rule 'r': unknown column 'bookings' (the dataset has id, booking_changes, adults"),
        ("price + 1", "rules.yaml:2: rule 'r': not a true/false condition (it gives BIGINT)"),
        ("country > 1", "rules.yaml:2: rule 'r': Cannot compare values of type VARCHAR"),
        ("CAST(country AS INTEGER) > 1", "rules.yaml:2: rule 'r': fails on this data: Conversion Error"),
    ],
)
def test_rules_that_do_not_fit_the_dataset_stop_its_scan(bookings: Path, rule: str, message: str) -> None:
    with pytest.raises(ScanError) as caught:
        evaluate(bookings, f"- name: r\n  rule: {rule}\n", "rules.yaml")
    assert str(caught.value).startswith(message), str(caught.value)


# -- bastion scan --rules -------------------------------------------------------------------------


def test_scan_with_rules(bookings: Path, tmp_path: Path, scan_json: Any) -> None:
    rules = write_rules(tmp_path, RULES)
    status, report = scan_json(str(bookings), "--rules", str(rules))
    assert status == 1  # the high-severity rule fails the default gate
    (artifact,) = report["scanned"]
    assert artifact["status"] == "complete"
    findings = {f["rule_id"]: f for f in report["findings"] if f["category"] == "data-integrity"}
    assert set(findings) == {
        "data.integrity.rule.has-booking-changes",
        "data.integrity.rule.known-country",
        "data.integrity.rule.price",
        "data.integrity.rule.guests",
    }
    country = findings["data.integrity.rule.known-country"]
    assert (country["severity"], country["count"], country["location"]["row"], country["rule"]) == (
        "high",
        333,
        2,
        "known country",
    )
    assert country["rows"][:3] == [2, 5, 8]


def test_scan_refuses_a_bad_rules_file_before_reading_data(bookings: Path, tmp_path: Path, run_bastion: RunBastion) -> None:
    rules = write_rules(tmp_path, "- name: leak\n  rule: length(read_text('/etc/passwd')) > 0\n")
    result = run_bastion("scan", str(bookings), "--rules", str(rules), "--format", "json")
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert f"{rules}:2: rule 'leak': function read_text() is not allowed" in line


def test_scan_reports_a_rule_that_does_not_fit_as_an_incomplete_scan(bookings: Path, tmp_path: Path, scan_json: Any) -> None:
    rules = write_rules(tmp_path, "- name: ok\n  rule: price < 1000\n- name: typo\n  rule: prise > 0\n")
    status, report = scan_json(str(bookings), "--rules", str(rules))
    assert status == 2
    (artifact,) = report["scanned"]
    assert artifact["status"] in ("partial", "error")  # partial: the other analyses' findings are kept
    assert f"{rules}:4: rule 'typo': unknown column 'prise'" in artifact["error"]
    assert json.dumps(report).count("Traceback") == 0
