"""Every secret family: generated true samples in several contexts, and the decoys that must pass."""

from __future__ import annotations

import base64
import random
from pathlib import Path

import pytest

from bastion.core import Finding
from bastion.scanners.code import SecretScanner
from bastion.scanners.code.rules import default_rules
from tests.code import samples

SCANNER = SecretScanner()


def scan(text: str, *, code: bool = True) -> list[Finding]:
    return SCANNER.scan_bytes(text.encode(), "file.py" if code else "settings.env", code=code)


def rule_ids(text: str, *, code: bool = True) -> list[str]:
    return [finding.rule_id for finding in scan(text, code=code)]


@pytest.mark.parametrize("rule_id", sorted(samples.SAMPLES))
def test_each_family_is_found_and_redacted(rule_id: str) -> None:
    rng = random.Random(rule_id)
    for _ in range(25):
        secret, line = samples.SAMPLES[rule_id](rng)
        text = "import os\n\n" + line.format(secret) + "\n"
        findings = scan(text)
        assert [f.rule_id for f in findings] == [rule_id], text
        (finding,) = findings
        assert finding.location.line == 3
        assert secret not in (finding.evidence or ""), "evidence must be redacted"
        assert finding.category.value == "secret"


def test_every_rule_has_a_sample_or_a_dedicated_test() -> None:
    dedicated = {
        "code.secret.gcp-service-account-key",
        "code.secret.azure-sas-token",
        "code.secret.private-key",
        "code.secret.putty-private-key",
        "code.secret.stripe-test-key",
        "code.secret.twilio-auth-token",
        "code.secret.bitbucket-client-secret",
        "code.secret.bearer-token",
    }
    assert {rule.id for rule in default_rules()} == set(samples.SAMPLES) | set(samples.VENDOR_SAMPLES) | dedicated


@pytest.mark.parametrize("rule_id", sorted(samples.VENDOR_SAMPLES))
def test_vendor_tokens_by_their_prefix(rule_id: str) -> None:
    rng = random.Random(rule_id)
    for template in ('TOKEN = "{}"', "client = Client({!r})", "export SERVICE_TOKEN={}"):
        token = samples.VENDOR_SAMPLES[rule_id](rng)
        findings = scan(template.format(token) + "\n")
        assert [f.rule_id for f in findings] == [rule_id], template.format(token)
        assert token not in (findings[0].evidence or "")
    placeholder = samples.VENDOR_SAMPLES[rule_id](rng)[:-12] + "x" * 12
    assert scan(f'TOKEN = "{placeholder}"\n') == [], "a run of x marks a placeholder"


def test_private_keys_pem_openssh_and_gcp_service_account_json() -> None:
    assert rule_ids('KEY = """\n' + samples.private_key_pem() + '"""\n') == ["code.secret.private-key"]
    assert rule_ids(samples.private_key_pem("openssh"), code=False) == ["code.secret.private-key"]
    (finding,) = scan(samples.gcp_service_account(), code=False)
    assert finding.rule_id == "code.secret.gcp-service-account-key"
    assert finding.location.line == 5


def test_dedicated_shapes() -> None:
    rng = random.Random(7)
    sas = samples.azure_sas_url(rng)
    assert rule_ids(f'BLOB_URL = "{sas}"\n') == ["code.secret.azure-sas-token"]
    assert rule_ids(f"stripe.api_key = 'sk_test_{samples.pick(samples.ALNUM, 24, rng)}'\n") == ["code.secret.stripe-test-key"]
    hex32 = samples.pick("0123456789abcdef", 32, rng)
    assert rule_ids(f'TWILIO_AUTH_TOKEN = "{hex32}"\n') == ["code.secret.twilio-auth-token"]
    bitbucket = samples.pick(samples.ALNUM, 32, rng)
    assert rule_ids(f"BITBUCKET_CLIENT_SECRET: {bitbucket}\n", code=False) == ["code.secret.bitbucket-client-secret"]
    bearer = samples.pick(samples.ALNUM, 40, rng)
    assert rule_ids(f"curl -H 'Authorization: Bearer {bearer}' https://api.internal\n", code=False) == [
        "code.secret.bearer-token"
    ]
    putty = "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: k\nPublic-Lines: 2\nAAAA\nBBBB\nPrivate-Lines: 1\n"
    assert rule_ids(putty + samples.b64_key(32, rng) + "\n", code=False) == ["code.secret.putty-private-key"]


@pytest.mark.parametrize(
    "template",
    [
        "client = boto3.client('s3', aws_access_key_id=KEY_ID, aws_secret_access_key='{aws}')",
        'session = boto3.Session(\n    aws_secret_access_key="{aws}",\n)',
        '{{"aws_secret_access_key": "{aws}"}}',
        "aws_secret_access_key: {aws}",
        "export AWS_SECRET_ACCESS_KEY={aws}",
        'huggingface_hub.login(token="{hf}")',
        'login("{hf}")',
        "conn = psycopg2.connect('postgres://etl:{pw}@10.0.0.5/warehouse')",
        "DB_PASSWORD = '{pw}'",
        "db:\n  password: {pw}",
        "settings = {{'password': '{pw}'}}",
        'engine = create_engine(url, password="{pw}")',
        "spring.datasource.password={pw}",
        "Server=db;Database=app;User Id=sa;Password={pw};",
    ],
)
def test_secrets_in_varied_contexts(template: str) -> None:
    rng = random.Random(template)
    values = {"aws": samples.aws_secret(rng), "hf": "hf_" + samples.pick("abcdefghijKLMNOPQRST", 34, rng), "pw": "Summer2024!"}
    text = template.format(**values)
    code = not any(marker in template for marker in ("export", "db:\n", "spring.", "Server=", "aws_secret_access_key:"))
    findings = scan(text, code=code)
    assert len(findings) == 1, (text, [f.rule_id for f in findings])
    for value in values.values():
        assert value not in (findings[0].evidence or "")


def test_strings_split_by_concatenation_are_joined() -> None:
    key_id = samples.aws_key_id()
    token = samples.github_token()
    text = f'KEY = "{key_id[:4]}" + "{key_id[4:12]}" + "{key_id[12:]}"\nTOKEN = ("{token[:10]}"\n    + "{token[10:]}")\n'
    findings = scan(text)
    assert [(f.rule_id, f.location.line) for f in findings] == [
        ("code.secret.aws-access-key-id", 1),
        ("code.secret.github-token", 2),
    ]
    assert all("split by concatenation" in f.message for f in findings)
    assert key_id[4:12] not in (findings[0].evidence or "")


def test_base64_encoded_secrets_are_decoded() -> None:
    token = samples.github_token()
    blob = base64.b64encode(f"GITHUB_TOKEN={token}\n".encode()).decode()
    (finding,) = scan(f'CONFIG = "{blob}"\n')
    assert finding.rule_id == "code.secret.github-token"
    assert "base64" in finding.message
    key = samples.aws_key_id()
    (finding,) = scan(f"data:\n  key_id: {base64.b64encode(key.encode()).decode()}\n", code=False)
    assert finding.rule_id == "code.secret.aws-access-key-id"


def test_low_entropy_keyword_passwords_are_found() -> None:
    for value in ("Summer2024!", "hunter2", "Tr0ub4dor&3", "p@ss-w0rd-42"):
        assert rule_ids(f'password = "{value}"\n') == ["code.secret.password-assignment"], value


@pytest.mark.parametrize(
    "text",
    [
        'password = os.environ["DB_PASSWORD"]',
        "password = os.getenv('DB_PASSWORD')",
        "password = None",
        'password = "${DB_PASS}"',
        "password = settings.PASSWORD",
        'password = "changeme"',
        'password = "<your-password>"',
        'password = ""',
        'password = "password"',
        "password = getpass.getpass()",
        'password_field = "user_password"',
        'password: "{{ .Values.db.password }}"',
        'PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]',
        'password = "%(password)s"',
        'token_type = "bearer"',
        "max_tokens = 4096",
        'tokenizer = "bert-base-multilingual-cased"',
        'secret_name = "prod/db/credentials-2024"',
        'api_key = "YOUR_API_KEY"',
        'api_key = "sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"',
        'key = "AKIAIOSFODNN7EXAMPLE"',
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "token = 'ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'",
        "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----",
        "token = os.environ['GITHUB_TOKEN']",
        "sha = 'da39a3ee5e6b4b0d3255bfef95601890afd80709'",
        'commit_token = "da39a3ee5e6b4b0d3255bfef95601890afd80709"',
        "image: python@sha256:8c5f4c3b1a2e9d7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39",
        '"integrity": "sha512-Lv5K2vH2Q6gk8nFz9X1Y3xQ8tq7b0m5p8b3m0s9K8kR2k6yJ6v2sW+q1qQ9H0C8iM2uY3gk0Jt4u+8Y8Z6v1A=="',
        'hash = "sha256:3b0e5c7a2a1f4d9e8c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d"',
        'secret_token = "sha256:3b0e5c7a2a1f4d9e8c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d"',
        'client_secret = "3f2b8c1e-4d5a-4b6c-9e8f-1a2b3c4d5e6f"',
        'checksum = "9e107d9d372bb6826bd81d3542a419d6"',
        'thumbnail = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6'
        'kgAAAABJRU5ErkJggg=="',
        'DATABASE_URL = "postgres://user:password@localhost:5432/db"',
        'DATABASE_URL = "postgres://user:${DB_PASSWORD}@db:5432/app"',
        "url = 'https://user@example.com:8443/path'",
        "jwt = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ"
        ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c'",
        "from huggingface_hub import hf_hub_download_from_cache_if_present",
        "model(password='IAmSensitive')",
        "def check_password(password, hashed): return password == hashed",
        "auth = HTTPBasicAuth(username, password)",
        "hardcoded_password_string = bandit.plugins.general_hardcoded_password:hardcoded_password_string",
        '<assemblyIdentity name="Microsoft.VC90.CRT" publicKeyToken="1fc8b3b9a1e18e3b"></assemblyIdentity>',
        "fs = fsspec.filesystem('github://org:repo@sha/precip/catalog.yml')",
        "smb_url = 'smb://myuser:mypassword@myserver.com/share'",
        'client.fetch("/auth", auth_username="foo", auth_password="səcrət")',
    ],
)
def test_decoys_are_not_reported(text: str) -> None:
    assert scan(text + "\n") == []


def test_unquoted_values_in_source_code_are_variables() -> None:
    assert rule_ids("password = db_password_2\n") == []
    assert rule_ids("password = Summer2024!\n", code=False) == ["code.secret.password-assignment"]


def test_a_minified_megabyte_line_and_invalid_utf8_are_scanned_in_bounded_time() -> None:
    token = samples.github_token()
    line = ("var a=function(t){return t.token+'x'};" * 30000) + f"var k='{token}';"
    findings = scan(line)
    assert [f.rule_id for f in findings] == ["code.secret.github-token"]
    data = b"\xff\xfe password = '\xc3(Summer2024!' \xff\n"
    assert [f.rule_id for f in SCANNER.scan_bytes(data, "x.cfg")] == ["code.secret.password-assignment"]


def test_text_tables_are_scanned_and_large_files_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bastion.core import Kind
    from bastion.scanners import ScanTarget
    from bastion.scanners.code import secrets as secrets_module

    key = samples.aws_key_id()
    config = f'{{"aws_access_key_id": "{key}"}}\n'.encode()
    table = ScanTarget(tmp_path / "c.json", "c.json", Kind.DATASET, "jsonl", len(config), data=config)
    assert SCANNER.handles(table)
    assert [f.rule_id for f in SCANNER.scan(table)] == ["code.secret.aws-access-key-id"]

    monkeypatch.setattr(secrets_module, "_CHUNK", 4096)
    monkeypatch.setattr(secrets_module, "_OVERLAP", 512)
    tokens = {line: samples.github_token() for line in (3, 700, 1499)}
    lines = [f"row {n},{tokens.get(n, 'plain value')}\n" for n in range(1, 2001)]
    big = tmp_path / "log.csv"
    big.write_text("".join(lines))
    target = ScanTarget(big, "log.csv", Kind.DATASET, "csv", big.stat().st_size)
    findings = SCANNER.scan(target)
    assert [(f.rule_id, f.location.line) for f in findings] == [("code.secret.github-token", n) for n in sorted(tokens)]
