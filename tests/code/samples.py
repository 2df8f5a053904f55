"""Generated credentials of every family the secret rules cover: right shape, right checksum, never real.

Shared by the tests and by benchmarks/secret_scan.py, so both plant the same kinds of secret.
"""

from __future__ import annotations

import base64
import json
import random
import string
import zlib

ALNUM = string.ascii_letters + string.digits
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_rng = random.SystemRandom()


def pick(alphabet: str, n: int, rng: random.Random = _rng) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _crc_suffix(body: str) -> str:
    value = zlib.crc32(body.encode())
    digits = ""
    while value:
        value, digit = divmod(value, 62)
        digits = BASE62[digit] + digits
    return digits.rjust(6, "0")


def github_token(prefix: str = "ghp", valid_checksum: bool = True, rng: random.Random = _rng) -> str:
    body = pick(ALNUM, 30, rng)
    return f"{prefix}_{body}{_crc_suffix(body) if valid_checksum else 'zzzzzz'}"


def npm_token(rng: random.Random = _rng) -> str:
    body = pick(ALNUM, 30, rng)
    return f"npm_{body}{_crc_suffix(body)}"


def aws_key_id(rng: random.Random = _rng) -> str:
    return "AKIA" + pick(string.ascii_uppercase + "234567", 16, rng)


def aws_secret(rng: random.Random = _rng) -> str:
    return pick(ALNUM + "/+", 40, rng)


def b64_key(n_bytes: int, rng: random.Random = _rng) -> str:
    return base64.b64encode(bytes(rng.randrange(256) for _ in range(n_bytes))).decode()


def private_key_pem(kind: str = "pkcs8") -> str:
    """A freshly generated key, PKCS#8 PEM or OpenSSH form."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    if kind == "openssh":
        key = ed25519.Ed25519PrivateKey.generate()
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ).decode()
    ec_key = ec.generate_private_key(ec.SECP256R1())
    return ec_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def gcp_service_account(rng: random.Random = _rng) -> str:
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "demo-project",
            "private_key_id": pick("0123456789abcdef", 40, rng),
            "private_key": private_key_pem(),
            "client_email": "svc@demo-project.iam.gserviceaccount.com",
            "client_id": pick(string.digits, 21, rng),
        },
        indent=2,
    )


def jwt(rng: random.Random = _rng) -> str:
    def part(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    payload = {"sub": pick(string.digits, 8, rng), "name": "svc", "iat": 1700000000 + rng.randrange(10**6)}
    signature = base64.urlsafe_b64encode(bytes(rng.randrange(256) for _ in range(32))).rstrip(b"=").decode()
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(payload)}.{signature}"


def azure_sas_url(rng: random.Random = _rng) -> str:
    from urllib.parse import quote

    signature = quote(b64_key(32, rng), safe="")
    return (
        f"https://acct{pick(string.digits, 4, rng)}.blob.core.windows.net/data/file.csv?sv=2022-11-02&ss=b&srt=sco"
        f"&sp=rl&se=2030-01-01T00:00:00Z&st=2024-01-01T00:00:00Z&spr=https&sig={signature}"
    )


def password(rng: random.Random = _rng) -> str:
    """A weak but real-looking password: a word, a year, a symbol."""
    word = rng.choice(["Summer", "Winter", "Falcon", "Orchid", "Monday", "Bristol", "Marina", "Tango"])
    return f"{word}{rng.randrange(1990, 2030)}{rng.choice('!#$%&*?')}"


def strong_password(rng: random.Random = _rng) -> str:
    return pick(ALNUM + "!#%&*-_=", 20, rng)


SAMPLES = {
    "code.secret.aws-access-key-id": lambda r: (aws_key_id(r), 'aws_access_key_id = "{}"'),
    "code.secret.aws-secret-access-key": lambda r: (aws_secret(r), "AWS_SECRET_ACCESS_KEY = '{}'"),
    "code.secret.gcp-api-key": lambda r: ("AIza" + pick(ALNUM + "_-", 35, r), 'maps_key = "{}"'),
    "code.secret.gcp-oauth-client-secret": lambda r: ("GOCSPX-" + pick(ALNUM + "_-", 28, r), '"client_secret": "{}"'),
    "code.secret.azure-storage-account-key": lambda r: (
        b64_key(64, r),
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={};EndpointSuffix=core.windows.net",
    ),
    "code.secret.azure-client-secret": lambda r: (
        pick(ALNUM, 3, r) + "8Q~" + pick(ALNUM + "_~.-", 34, r),
        "AZURE_CLIENT_SECRET={}",
    ),
    "code.secret.github-token": lambda r: (github_token(rng=r), "GH_TOKEN = '{}'"),
    "code.secret.github-fine-grained-token": lambda r: (
        "github_pat_" + pick(ALNUM, 22, r) + "_" + pick(ALNUM, 59, r),
        "gh = Github('{}')",
    ),
    "code.secret.gitlab-token": lambda r: ("glpat-" + pick(ALNUM + "_-", 20, r), "gl = gitlab.Gitlab(url, private_token='{}')"),
    "code.secret.atlassian-api-token": lambda r: ("ATATT3" + pick(ALNUM + "_-", 186, r), "jira_api_token: {}"),
    "code.secret.slack-token": lambda r: (
        f"xoxb-{pick(string.digits, 12, r)}-{pick(string.digits, 13, r)}-{pick(ALNUM, 24, r)}",
        "client = WebClient(token='{}')",
    ),
    "code.secret.slack-webhook": lambda r: (
        f"https://hooks.slack.com/services/T{pick(string.ascii_uppercase + string.digits, 10, r)}/"
        f"B{pick(string.ascii_uppercase + string.digits, 10, r)}/{pick(ALNUM, 24, r)}",
        'requests.post("{}", json=payload)',
    ),
    "code.secret.stripe-key": lambda r: ("sk_live_" + pick(ALNUM, 24, r), "stripe.api_key = '{}'"),
    "code.secret.twilio-api-key": lambda r: ("SK" + pick("0123456789abcdef", 32, r), "Client('{}', auth_secret)"),
    "code.secret.sendgrid-api-key": lambda r: (
        f"SG.{pick(ALNUM + '_-', 22, r)}.{pick(ALNUM + '_-', 43, r)}",
        "sg = SendGridAPIClient('{}')",
    ),
    "code.secret.npm-token": lambda r: (npm_token(r), "//registry.npmjs.org/:_authToken={}"),
    "code.secret.pypi-token": lambda r: ("pypi-AgEIcHlwaS5vcmc" + pick(ALNUM + "_-", 70, r), "password = {}"),
    "code.secret.openai-api-key": lambda r: ("sk-proj-" + pick(ALNUM + "_-", 120, r), "client = OpenAI(api_key='{}')"),
    "code.secret.anthropic-api-key": lambda r: (
        "sk-ant-api03-" + pick(ALNUM + "_-", 93, r) + "AA",
        'anthropic.Anthropic(api_key="{}")',
    ),
    "code.secret.huggingface-token": lambda r: ("hf_" + pick(string.ascii_letters, 34, r), 'login(token="{}")'),
    "code.secret.jwt": lambda r: (jwt(r), "headers = {{'Authorization': 'JWT {}'}}"),
    "code.secret.url-password": lambda r: (
        strong_password(r).replace("@", "x").replace("#", "x"),
        'DATABASE_URL = "postgresql://app:{}@db.internal:5432/app"',
    ),
    "code.secret.password-assignment": lambda r: (password(r), 'password = "{}"'),
    "code.secret.generic-secret": lambda r: (pick(ALNUM, 32, r), 'SECRET_KEY = "{}"'),
}
"""Per rule: a generator of (secret, a line with ``{}`` where it goes)."""


HEX = "0123456789abcdef"
UPPER_ALNUM = string.ascii_uppercase + string.digits

VENDOR_SAMPLES = {
    "code.secret.shopify-token": lambda r: "shpat_" + pick(HEX, 32, r),
    "code.secret.digitalocean-token": lambda r: "dop_v1_" + pick(HEX, 64, r),
    "code.secret.databricks-token": lambda r: "dapi" + pick(HEX, 32, r),
    "code.secret.telegram-bot-token": lambda r: pick(string.digits, 10, r) + ":AA" + pick(ALNUM + "_-", 33, r),
    "code.secret.linear-api-key": lambda r: "lin_api_" + pick(ALNUM, 40, r),
    "code.secret.vault-token": lambda r: "hvs." + pick(ALNUM + "_-", 95, r),
    "code.secret.terraform-cloud-token": lambda r: pick(ALNUM, 14, r) + ".atlasv1." + pick(ALNUM + "_-", 67, r),
    "code.secret.grafana-token": lambda r: "glsa_" + pick(ALNUM, 32, r) + "_" + pick(HEX, 8, r),
    "code.secret.new-relic-key": lambda r: "NRAK-" + pick(UPPER_ALNUM, 27, r),
    "code.secret.postman-api-key": lambda r: "PMAK-" + pick(HEX, 24, r) + "-" + pick(HEX, 34, r),
    "code.secret.pulumi-token": lambda r: "pul-" + pick(HEX, 40, r),
    "code.secret.replicate-token": lambda r: "r8_" + pick(ALNUM, 37, r),
    "code.secret.groq-api-key": lambda r: "gsk_" + pick(ALNUM, 52, r),
    "code.secret.perplexity-api-key": lambda r: "pplx-" + pick(ALNUM, 48, r),
    "code.secret.xai-api-key": lambda r: "xai-" + pick(ALNUM, 80, r),
    "code.secret.docker-hub-token": lambda r: "dckr_pat_" + pick(ALNUM + "_-", 27, r),
    "code.secret.supabase-token": lambda r: "sbp_" + pick(HEX, 40, r),
    "code.secret.notion-token": lambda r: "ntn_" + pick(string.digits, 11, r) + pick(ALNUM, 35, r),
    "code.secret.square-token": lambda r: "sq0atp-" + pick(ALNUM + "_-", 22, r),
    "code.secret.mailgun-key": lambda r: "key-" + pick(HEX, 32, r),
    "code.secret.mailchimp-key": lambda r: pick(HEX, 32, r) + "-us" + str(r.randrange(1, 21)),
    "code.secret.sentry-token": lambda r: "sntryu_" + pick(HEX, 64, r),
    "code.secret.dynatrace-token": lambda r: "dt0c01." + pick(UPPER_ALNUM, 24, r) + "." + pick(UPPER_ALNUM, 64, r),
    "code.secret.doppler-token": lambda r: "dp.pt." + pick(ALNUM, 43, r),
    "code.secret.heroku-api-key": lambda r: "HRKU-" + pick(ALNUM + "_-", 60, r),
}
"""Per rule: a generator of a token whose registered prefix names its vendor."""
