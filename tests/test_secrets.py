"""The first secret rules: AWS keys, GitHub tokens, private keys; placeholders pass, evidence is redacted."""

from __future__ import annotations

import json
import secrets
import string
import zlib
from pathlib import Path

import pytest

from bastion.core import Kind, Severity
from bastion.scanners import ScanTarget
from bastion.scanners.code import SecretScanner, redact
from bastion.scanners.code.rules import _BASE62

ALNUM = string.ascii_letters + string.digits


def github_token(prefix: str = "ghp", valid_checksum: bool = True) -> str:
    body = "".join(secrets.choice(ALNUM) for _ in range(30))
    value = zlib.crc32(body.encode())
    digits = ""
    while value:
        value, digit = divmod(value, 62)
        digits = _BASE62[digit] + digits
    checksum = digits.rjust(6, "0") if valid_checksum else "zzzzzz"
    return f"{prefix}_{body}{checksum}"


def aws_key_id() -> str:
    return "AKIA" + "".join(secrets.choice(string.ascii_uppercase + "234567") for _ in range(16))


def aws_secret() -> str:
    return "".join(secrets.choice(ALNUM + "/+") for _ in range(40))


def private_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def scan_text(text: str, kind: Kind = Kind.CODE, name: str = "config.py") -> list:  # type: ignore[type-arg]
    data = text.encode()
    return SecretScanner().scan(ScanTarget(Path(name), name, kind, None, len(data), data=data))


def test_aws_access_key_and_secret_key_passed_as_arguments() -> None:
    key_id, secret = aws_key_id(), aws_secret()
    text = f"import boto3\nclient = boto3.client('s3', aws_access_key_id='{key_id}', aws_secret_access_key='{secret}')\n"
    found = {f.rule_id: f for f in scan_text(text)}
    assert set(found) == {"code.secret.aws-access-key-id", "code.secret.aws-secret-access-key"}
    assert found["code.secret.aws-secret-access-key"].severity is Severity.CRITICAL
    assert found["code.secret.aws-access-key-id"].location.line == 2
    for finding in found.values():
        assert key_id not in (finding.evidence or "") and secret not in (finding.evidence or "")


def test_github_tokens_with_and_without_a_valid_checksum() -> None:
    good, bad = github_token(), github_token("gho", valid_checksum=False)
    fine_grained = (
        "github_pat_"
        + "".join(secrets.choice(ALNUM) for _ in range(22))
        + "_"
        + "".join(secrets.choice(ALNUM) for _ in range(59))
    )
    findings = scan_text(f"TOKEN = '{good}'\nOTHER = '{bad}'\nPAT = '{fine_grained}'\n")
    assert [(f.rule_id, f.location.line) for f in findings] == [
        ("code.secret.github-token", 1),
        ("code.secret.github-token", 2),
        ("code.secret.github-fine-grained-token", 3),
    ]
    assert findings[0].confidence == 0.99, "a valid CRC32 checksum makes the match near certain"
    assert findings[1].confidence == 0.9


def test_private_keys_in_pem_form() -> None:
    pem = private_key_pem()
    (finding,) = scan_text(f'KEY = """\n{pem}"""\n')
    assert finding.rule_id == "code.secret.private-key"
    assert finding.severity is Severity.CRITICAL
    assert finding.location.line == 2
    assert finding.evidence == "-----BEGIN PRIVATE KEY----- …[redacted]"


@pytest.mark.parametrize(
    "text",
    [
        'key = "AKIAIOSFODNN7EXAMPLE"\n',  # AWS's documented example key
        'key = "AKIAXXXXXXXXXXXXXXXX"\n',  # a placeholder
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
        "token = 'ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'\n",
        "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----\n",  # documentation stub
        "token = os.environ['GITHUB_TOKEN']\n",
        "sha = 'da39a3ee5e6b4b0d3255bfef95601890afd80709'\n",
    ],
)
def test_decoys_are_not_reported(text: str) -> None:
    assert scan_text(text) == []


def test_notebook_cells_and_outputs_are_located() -> None:
    token = github_token()
    notebook = {
        "cells": [
            {"cell_type": "markdown", "source": ["# title\n"]},
            {"cell_type": "code", "source": ["x = 1\n", f"t = '{token}'\n"], "outputs": []},
            {
                "cell_type": "code",
                "source": "print(t)",
                "outputs": [
                    {"output_type": "stream", "name": "stdout", "text": [f"{token}\n"]},
                    {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo" + "A" * 200}},
                ],
            },
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    findings = scan_text(json.dumps(notebook), Kind.NOTEBOOK, "nb.ipynb")
    assert [(f.location.member, f.location.line) for f in findings] == [("cell[1]", 2), ("cell[2].outputs", 1)]


def test_a_malformed_notebook_is_still_scanned_but_reported_partial() -> None:
    from bastion.scanners import ScanError

    token = github_token()
    with pytest.raises(ScanError) as caught:
        scan_text('{"cells": [ broken ' + token, Kind.NOTEBOOK, "nb.ipynb")
    assert caught.value.partial
    assert [f.rule_id for f in caught.value.findings] == ["code.secret.github-token"]


def test_redaction_keeps_only_a_type_prefix() -> None:
    assert redact("AKIAQX7RZ2M5T6L3B4N7") == "AKIA…[20 chars redacted]"
    assert redact("short") == "…[5 chars redacted]"
