"""Notebooks: secrets and personal data in cells and outputs, located by cell; stripping outputs in place."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from bastion.core import Kind
from bastion.scanners import ScanTarget
from bastion.scanners.code import SecretScanner
from bastion.scanners.code.notebook_pii import NotebookPIIScanner
from tests.code import samples


def notebook(*cells: dict[str, Any]) -> dict[str, Any]:
    return {
        "cells": list(cells),
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def code_cell(source: str, outputs: list[dict[str, Any]] | None = None, count: int | None = 1) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": count,
        "id": f"c{abs(hash(source)) % 10**6}",
        "metadata": {"tags": ["keep-me"]},
        "outputs": outputs or [],
        "source": source.splitlines(keepends=True),
    }


def write_nb(path: Path, document: dict[str, Any]) -> bytes:
    data = (json.dumps(document, indent=1, ensure_ascii=False) + "\n").encode()
    path.write_bytes(data)
    return data


def target(path: Path) -> ScanTarget:
    data = path.read_bytes()
    return ScanTarget(path, path.name, Kind.NOTEBOOK, "ipynb", len(data), data=data)


def leaky_notebook() -> tuple[dict[str, Any], dict[str, str]]:
    aws, hf, token, card = (
        samples.aws_key_id(),
        "hf_" + samples.pick("abcdefghijKLMNOPQRST", 34),
        samples.github_token(),
        "4111 1111 1111 1111",
    )
    image_payload = base64.b64encode(f"\x89PNG fake {samples.github_token()} ".encode() * 20).decode()
    document = notebook(
        {"cell_type": "markdown", "id": "m0", "metadata": {}, "source": ["# Churn model\n", "Contact: data-team@example.com\n"]},
        code_cell(f'import boto3\ns3 = boto3.client("s3", aws_access_key_id="{aws}")\n'),
        code_cell("print(os.environ)", [{"output_type": "stream", "name": "stdout", "text": [f"HF_TOKEN={hf}\n"]}]),
        code_cell(
            "customers.head()",
            [
                {
                    "output_type": "execute_result",
                    "execution_count": 3,
                    "metadata": {},
                    "data": {
                        "text/plain": [
                            "        name                   email           card\n",
                            f"0  Maria Garcia  maria.garcia@gmail.com  {card}\n",
                            "1  John Miller   j.miller@outlook.com    5500 0000 0000 0004\n",
                        ],
                        "image/png": image_payload,
                    },
                }
            ],
        ),
        code_cell(
            "connect()",
            [
                {
                    "output_type": "error",
                    "ename": "AuthError",
                    "evalue": "bad token",
                    "traceback": ["\x1b[0;31mAuthError\x1b[0m", f"token {token} rejected"],
                }
            ],
        ),
    )
    return document, {"aws": aws, "hf": hf, "token": token, "card": card}


def test_secrets_in_sources_streams_and_tracebacks_but_not_images(tmp_path: Path) -> None:
    document, planted = leaky_notebook()
    path = tmp_path / "churn.ipynb"
    write_nb(path, document)
    findings = SecretScanner().scan(target(path))
    assert [(f.rule_id, f.location.member, f.location.line) for f in findings] == [
        ("code.secret.aws-access-key-id", "cell[1]", 2),
        ("code.secret.huggingface-token", "cell[2].outputs", 1),
        ("code.secret.github-token", "cell[4].outputs", 2),
    ], "the token inside the base64 image of cell[3] must not be reported"
    for finding in findings:
        assert not any(value in (finding.evidence or "") for value in planted.values())


def test_personal_data_in_outputs_with_counts_and_masked_evidence(tmp_path: Path) -> None:
    document, planted = leaky_notebook()
    path = tmp_path / "churn.ipynb"
    write_nb(path, document)
    findings = NotebookPIIScanner().scan(target(path))
    found = {(f.entity, f.location.member): f for f in findings}
    assert set(found) == {
        ("CREDIT_CARD", "cell[3].outputs"),
        ("EMAIL_ADDRESS", "cell[3].outputs"),
        ("PERSON", "cell[3].outputs"),
    }, "the example.com address in the markdown cell is documentation"
    cards = found[("CREDIT_CARD", "cell[3].outputs")]
    assert cards.count == 2 and cards.location.line == 2 and cards.category.value == "pii"
    assert planted["card"] not in (cards.evidence or "") and "maria.garcia" not in (cards.evidence or "")
    assert "<CREDIT_CARD>" in (cards.evidence or "")
    assert "bastion notebooks strip" in (cards.remediation or "")


def test_bastion_scan_reports_notebook_members(tmp_path: Path, scan_json) -> None:  # type: ignore[no-untyped-def]
    document, _ = leaky_notebook()
    write_nb(tmp_path / "churn.ipynb", document)
    status, report = scan_json(str(tmp_path))
    assert status == 1
    members = {(f["category"], f["location"]["member"]) for f in report["findings"]}
    assert ("secret", "cell[1]") in members and ("pii", "cell[3].outputs") in members
    assert report["scanned"][0]["kind"] == "notebook"


def test_a_malformed_notebook_is_an_incomplete_scan(tmp_path: Path, scan_json) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "broken.ipynb").write_text('{"cells": [ {"cell_type": "code", "source": ' + '"x"' + ', "nbformat": 4')
    status, report = scan_json(str(tmp_path / "broken.ipynb"))
    assert status == 2, "an incomplete scan is never clean"
    assert report["scanned"][0]["status"] == "error"
    assert "malformed notebook" in report["scanned"][0]["error"]


def test_strip_removes_outputs_and_counts_and_keeps_the_rest(tmp_path: Path, run_bastion) -> None:  # type: ignore[no-untyped-def]
    document, _ = leaky_notebook()
    path = tmp_path / "churn.ipynb"
    write_nb(path, document)
    result = run_bastion("notebooks", "strip", str(path), "--format", "json")
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)["notebooks"]
    assert row == {"path": str(path), "changed": True, "outputs_removed": 3, "execution_counts_cleared": 4}
    data = path.read_bytes()
    stripped = json.loads(data)
    assert data.endswith(b"}\n") and data.startswith(b'{\n "cells": [\n  {'), "nbformat's one-space indent"
    expected = json.loads(json.dumps(document))
    for cell in expected["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    assert stripped == expected
    assert list(stripped["cells"][1]) == list(document["cells"][1]), "key order is kept"

    before = path.stat().st_mtime_ns
    again = run_bastion("notebooks", "strip", str(path))
    assert again.returncode == 0 and "already clean" in again.stdout
    assert path.stat().st_mtime_ns == before, "a clean notebook is not rewritten"


def test_strip_refuses_a_malformed_notebook_and_changes_nothing(tmp_path: Path, run_bastion) -> None:  # type: ignore[no-untyped-def]
    document, _ = leaky_notebook()
    good = tmp_path / "good.ipynb"
    good_bytes = write_nb(good, document)
    bad = tmp_path / "bad.ipynb"
    bad.write_bytes(b'{"cells": [1, 2], "nbformat": 4}')
    result = run_bastion("notebooks", "strip", str(good), str(bad))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "bad.ipynb" in result.stderr and "Traceback" not in result.stderr
    assert good.read_bytes() == good_bytes and bad.read_bytes() == b'{"cells": [1, 2], "nbformat": 4}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.ipynb", "good.ipynb"], "no temporary file left"
