"""Secret rules as data: each with keywords for a cheap pre-filter, a pattern, and checks.

A rule's ``pattern`` runs only near the places where one of its ``keywords`` (lower-case bytes)
occurs, the way gitleaks does it: one Aho-Corasick pass over the lowered file finds every keyword
of every rule, and most files hold none, so most patterns never run.

Rules are ordered from the most specific (a token with a registered prefix) to the most general
(a keyword assignment): where two rules match the same bytes, the earlier one is reported.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from bastion.core import Severity
from bastion.scanners.code import _context as ctx

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_REVOKE = "Revoke the credential, remove it from the file and its history, and load it from a secret manager."
_KEY_REMEDIATION = "Revoke the key pair, remove the private key from the file and its history, and keep it in a secret manager."
_PASSWORD_REMEDIATION = (
    "Change the password, remove it from the file and its history, and read it from the environment or a secret manager."
)

Context = Callable[["re.Match[bytes]", bool], bool]
"""A check of a whole match in its file (``True``: the file is source code); ``False`` drops the match."""


@dataclass(frozen=True, slots=True)
class Allowlist:
    """Matches to let through (gitleaks' ``[allowlist]``): any given check that passes allows, or all of them with ``and``."""

    regexes: tuple[re.Pattern[bytes], ...] = ()
    """A match whose ``regex_target`` one of these finds is allowed."""
    regex_target: str = "secret"
    """What ``regexes`` look at: ``secret``, ``match`` or ``line``."""
    paths: tuple[re.Pattern[str], ...] = ()
    """Files whose path one of these finds are not reported by the rule (or at all, for a global allowlist)."""
    stopwords: tuple[str, ...] = ()
    """A secret holding one of these (lower-case) is allowed."""
    condition_and: bool = False
    """True: a match is allowed only when every check given passes (gitleaks' ``condition = "AND"``)."""


@dataclass(frozen=True, slots=True)
class SecretRule:
    """One kind of secret."""

    id: str
    """The finding's ``rule_id``."""
    description: str
    """Names the secret in a message: 'AWS access key ID'."""
    keywords: tuple[bytes, ...]
    """Lower-case byte strings; the pattern runs only near them. Empty: the pattern runs over the whole file."""
    pattern: re.Pattern[bytes]
    """Finds the secret; ``secret_group`` says which group holds it."""
    severity: Severity
    secret_group: int | str | None = None
    """The group holding the secret (number or name); None: the first non-empty group, else the whole match."""
    min_entropy: float = 0.0
    """Shannon entropy in bits per character the secret must reach (placeholders do not)."""
    validate: Callable[[str], bool | None] | None = None
    """A checksum or structure check: True valid, False invalid (dropped), None cannot tell."""
    context: Context | None = None
    """A check of the whole match in its file: names, quoting, placeholders; False drops it."""
    confidence: float = 0.9
    """How sure a match is a real secret when ``validate`` cannot tell."""
    back: int = 64
    """How far before a keyword the match may start (bytes, within the keyword's line)."""
    forward: int = 512
    """How far after a keyword the match may end (bytes; within the line unless ``multiline``)."""
    multiline: bool = False
    """The secret spans lines (a PEM block)."""
    paths: re.Pattern[str] | None = None
    """The rule applies only to files whose path this finds (gitleaks' rule ``path``)."""
    allowlists: tuple[Allowlist, ...] = ()
    """The rule's own allowlists (gitleaks' ``[[rules.allowlists]]``)."""
    remediation: str = _REVOKE


def _base62_crc32(body: str) -> str:
    value = zlib.crc32(body.encode())
    encoded = ""
    while value:
        value, digit = divmod(value, 62)
        encoded = _BASE62[digit] + encoded
    return encoded.rjust(6, "0")


def _crc32_checksum(token: str) -> bool | None:
    """GitHub and npm tokens end with a base62 CRC32 of their random part: a match proves the shape."""
    _prefix, _, body = token.partition("_")
    if len(body) != 36:
        return None
    return _base62_crc32(body[:30]) == body[30:] or None


def _bounded(prefix: bytes, body: bytes) -> re.Pattern[bytes]:
    """A token made of ``prefix`` then ``body``, not part of a longer word."""
    return re.compile(rb"(?<![A-Za-z0-9_\-])(" + prefix + body + rb")(?![A-Za-z0-9_\-])")


_ASSIGN = (
    rb"['\"]?\]?\s*(?P<op>:\s*[A-Za-z_][\w.\[\], |]{0,40}?\s*=(?!=)|:=|=>|\|\|=|\?=|\+=|=(?!=)|:(?!:))\s*"
    rb"(?:[rbuRBU]{1,2}(?=['\"]))?"
)
"""After a name: ``=``, ``:``, ``:=``, ``=>``, ``+=``, or a type annotation and ``=``."""
_VALUE = (
    rb"""["'`]?(?P<value>(?<=")[^"\r\n]{1,256}(?=")|(?<=')[^'\r\n]{1,256}(?=')|(?<=`)[^`\r\n]{1,256}(?=`)"""
    rb"""|(?<!["'`])[^\s"'`,;)\]}<>]{1,256})"""
)
"""A double-, single- or back-quoted value (the closing quote must follow), or a bare one."""


def _assignment(names: bytes) -> re.Pattern[bytes]:
    """``name = value`` where the name holds one of ``names``: groups ``name``, ``op`` and ``value``."""
    return re.compile(rb"(?i)(?<![\w.\-])(?P<name>[\w.\-]{0,48}?(?:" + names + rb")[\w\-]{0,32})" + _ASSIGN + _VALUE)


_VENDOR_TOKENS: tuple[tuple[str, str, tuple[bytes, ...], bytes, float], ...] = (
    # (id, description, keywords, the whole token, minimum entropy): tokens whose registered prefix says what they are.
    (
        "shopify-token",
        "Shopify access token",
        (b"shpat_", b"shpca_", b"shppa_", b"shpss_"),
        rb"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}",
        3.0,
    ),
    ("digitalocean-token", "DigitalOcean token", (b"dop_v1_", b"doo_v1_", b"dor_v1_"), rb"do[opr]_v1_[a-f0-9]{64}", 3.0),
    ("databricks-token", "Databricks access token", (b"dapi",), rb"dapi[a-f0-9]{32}(?:-\d)?", 3.0),
    ("telegram-bot-token", "Telegram bot token", (b":aa",), rb"[0-9]{8,10}:AA[A-Za-z0-9_\-]{33}", 3.5),
    ("linear-api-key", "Linear API key", (b"lin_api_",), rb"lin_api_[A-Za-z0-9]{40}", 3.5),
    ("vault-token", "HashiCorp Vault token", (b"hvs.", b"hvb."), rb"hv[sb]\.[A-Za-z0-9_\-]{90,120}", 3.5),
    (
        "terraform-cloud-token",
        "Terraform Cloud token",
        (b".atlasv1.",),
        rb"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_\-=]{60,70}",
        3.5,
    ),
    (
        "grafana-token",
        "Grafana token",
        (b"glsa_", b"glc_"),
        rb"(?:glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_[A-Za-z0-9+/]{32,400}={0,2})",
        3.5,
    ),
    ("new-relic-key", "New Relic user API key", (b"nrak-",), rb"NRAK-[A-Z0-9]{27}", 3.0),
    ("postman-api-key", "Postman API key", (b"pmak-",), rb"PMAK-[a-f0-9]{24}-[a-f0-9]{34}", 3.0),
    ("pulumi-token", "Pulumi access token", (b"pul-",), rb"pul-[a-f0-9]{40}", 3.0),
    ("replicate-token", "Replicate API token", (b"r8_",), rb"r8_[A-Za-z0-9]{37}", 3.5),
    ("groq-api-key", "Groq API key", (b"gsk_",), rb"gsk_[A-Za-z0-9]{52}", 3.5),
    ("perplexity-api-key", "Perplexity API key", (b"pplx-",), rb"pplx-[A-Za-z0-9]{48}", 3.5),
    ("xai-api-key", "xAI API key", (b"xai-",), rb"xai-[A-Za-z0-9]{80}", 3.5),
    ("docker-hub-token", "Docker Hub personal access token", (b"dckr_pat_",), rb"dckr_pat_[A-Za-z0-9_\-]{27}", 3.5),
    ("supabase-token", "Supabase access token", (b"sbp_",), rb"sbp_[a-f0-9]{40}", 3.0),
    (
        "notion-token",
        "Notion integration token",
        (b"ntn_", b"secret_"),
        rb"(?:ntn_[0-9]{11}[A-Za-z0-9]{35}|secret_[A-Za-z0-9]{43})",
        3.5,
    ),
    (
        "square-token",
        "Square access token",
        (b"sq0atp-", b"sq0csp-", b"eaaa"),
        rb"(?:sq0atp-[0-9A-Za-z\-_]{22}|sq0csp-[0-9A-Za-z\-_]{43}|EAAA[0-9A-Za-z\-_+=]{60})",
        3.5,
    ),
    ("mailgun-key", "Mailgun API key", (b"key-",), rb"key-[0-9a-f]{32}", 3.0),
    ("mailchimp-key", "Mailchimp API key", (b"-us",), rb"[0-9a-f]{32}-us[0-9]{1,2}", 3.0),
    (
        "sentry-token",
        "Sentry auth token",
        (b"sntrys_", b"sntryu_"),
        rb"(?:sntrys_eyJ[A-Za-z0-9+/=_\-]{60,300}|sntryu_[a-f0-9]{64})",
        3.5,
    ),
    ("dynatrace-token", "Dynatrace API token", (b"dt0c01.",), rb"dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}", 3.5),
    ("doppler-token", "Doppler token", (b"dp.pt.", b"dp.st.", b"dp.sa."), rb"dp\.(?:pt|st|sa)\.[A-Za-z0-9]{40,44}", 3.5),
    ("heroku-api-key", "Heroku API key", (b"hrku-",), rb"HRKU-[A-Za-z0-9_\-]{60}", 3.5),
)


def _vendor_rules() -> list[SecretRule]:
    return [
        SecretRule(
            id=f"code.secret.{name}",
            description=description,
            keywords=keywords,
            pattern=_bounded(rb"", token),
            severity=Severity.HIGH,
            min_entropy=entropy,
            back=40,
            forward=320,
        )
        for name, description, keywords, token, entropy in _VENDOR_TOKENS
    ]


@functools.cache
def default_rules() -> tuple[SecretRule, ...]:
    """Bastion's own rules, compiled on first use: a scan that meets no text file never pays for them."""
    rules = (
        # --- cloud providers ---------------------------------------------------------------------------------
        SecretRule(
            id="code.secret.aws-access-key-id",
            description="AWS access key ID",
            keywords=(b"akia", b"asia", b"abia", b"acca", b"a3t"),
            pattern=re.compile(rb"(?<![A-Za-z0-9])((?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16})(?![A-Za-z0-9])"),
            severity=Severity.HIGH,
            min_entropy=3.0,
            back=4,
            forward=24,
        ),
        SecretRule(
            id="code.secret.aws-secret-access-key",
            description="AWS secret access key",
            keywords=(b"aws", b"amazon"),
            pattern=re.compile(
                rb"(?i)(?:aws|amazon)[\w.\-]{0,24}?(?:secret|private|sk)[\w.\-]{0,24}?['\"]?\]?\s*(?::=|=>|=|:|,)\s*"
                rb"[rbu]?['\"]?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
            ),
            severity=Severity.CRITICAL,
            min_entropy=4.0,
            back=48,
            forward=160,
        ),
        SecretRule(
            id="code.secret.gcp-service-account-key",
            description="Google Cloud service-account private key",
            keywords=(b'"private_key"',),
            pattern=re.compile(
                rb'"private_key"\s*:\s*"(-----BEGIN (?:RSA )?PRIVATE KEY-----(?:\\n|\\r|[A-Za-z0-9+/=\s])'
                rb'{64,}?-----END (?:RSA )?PRIVATE KEY-----(?:\\n)?)"'
            ),
            severity=Severity.CRITICAL,
            forward=16384,
            remediation=(
                "Delete the service-account key in the Google Cloud console, remove the file from the repository and its "
                "history, and use workload identity or a secret manager."
            ),
        ),
        SecretRule(
            id="code.secret.gcp-api-key",
            description="Google API key",
            keywords=(b"aiza",),
            pattern=_bounded(rb"AIza", rb"[0-9A-Za-z_\-]{35}"),
            severity=Severity.HIGH,
            min_entropy=3.5,
            back=1,
            forward=48,
        ),
        SecretRule(
            id="code.secret.gcp-oauth-client-secret",
            description="Google OAuth client secret",
            keywords=(b"gocspx-",),
            pattern=_bounded(rb"GOCSPX-", rb"[0-9A-Za-z_\-]{28}"),
            severity=Severity.HIGH,
            min_entropy=3.5,
            back=1,
            forward=48,
        ),
        SecretRule(
            id="code.secret.azure-storage-account-key",
            description="Azure storage account key",
            keywords=(b"accountkey", b"azure", b"storage"),
            pattern=re.compile(
                rb"(?i)(?:accountkey\s*=\s*|(?:azure|storage)[\w.\-]{0,32}?key[\w.\-]{0,16}?['\"]?\s*(?::=|=>|=|:|,)\s*['\"]?)"
                rb"([A-Za-z0-9+/]{86}==)"
            ),
            severity=Severity.CRITICAL,
            min_entropy=4.5,
            back=48,
            forward=200,
        ),
        SecretRule(
            id="code.secret.azure-client-secret",
            description="Azure AD (Entra ID) client secret",
            keywords=(b"q~",),
            pattern=re.compile(rb"(?<![A-Za-z0-9_~.\-])([A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.\-]{31,34})(?![A-Za-z0-9_~.\-])"),
            severity=Severity.CRITICAL,
            min_entropy=3.5,
            back=8,
            forward=48,
        ),
        SecretRule(
            id="code.secret.azure-sas-token",
            description="Azure shared access signature",
            keywords=(b"sig=",),
            pattern=re.compile(rb"(?i)[?&;]sv=\d{4}-\d\d-\d\d[^\s\"'<>]{0,400}?[?&;]sig=([A-Za-z0-9%+/]{40,}(?:%3d|=){0,2})"),
            severity=Severity.HIGH,
            back=480,
            forward=128,
            context=ctx.sas_token,
        ),
        # --- source forges -----------------------------------------------------------------------------------
        SecretRule(
            id="code.secret.github-token",
            description="GitHub token",
            keywords=(b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_"),
            pattern=_bounded(rb"(?:ghp|gho|ghu|ghs|ghr)_", rb"[A-Za-z0-9]{36}"),
            severity=Severity.CRITICAL,
            min_entropy=3.5,
            validate=_crc32_checksum,
            back=1,
            forward=48,
        ),
        SecretRule(
            id="code.secret.github-fine-grained-token",
            description="GitHub fine-grained personal access token",
            keywords=(b"github_pat_",),
            pattern=_bounded(rb"github_pat_", rb"[A-Za-z0-9]{22}_[A-Za-z0-9]{59}"),
            severity=Severity.CRITICAL,
            min_entropy=3.5,
            back=1,
            forward=96,
        ),
        SecretRule(
            id="code.secret.gitlab-token",
            description="GitLab token",
            keywords=(
                b"glpat-",
                b"gldt-",
                b"glptt-",
                b"glrt-",
                b"glcbt-",
                b"glft-",
                b"glimt-",
                b"glsoat-",
                b"gloas-",
                b"glagent-",
            ),
            pattern=_bounded(
                rb"gl(?:pat|dt|ptt|rt|cbt|ft|imt|soat|oas|agent)-", rb"[0-9A-Za-z_\-]{20,300}(?:\.[0-9a-z]{2}[0-9a-z]{7})?"
            ),
            severity=Severity.CRITICAL,
            min_entropy=3.0,
            back=1,
            forward=320,
        ),
        SecretRule(
            id="code.secret.atlassian-api-token",
            description="Atlassian (Bitbucket, Jira) API token",
            keywords=(b"atatt3", b"atctt3", b"atbb"),
            pattern=_bounded(rb"(?:ATATT3|ATCTT3)", rb"[A-Za-z0-9_\-=]{180,200}|ATBB[A-Za-z0-9_=.\-]{28,40}"),
            severity=Severity.CRITICAL,
            min_entropy=3.5,
            back=1,
            forward=224,
        ),
        SecretRule(
            id="code.secret.bitbucket-client-secret",
            description="Bitbucket client secret",
            keywords=(b"bitbucket",),
            pattern=re.compile(
                rb"(?i)bitbucket[\w.\-]{0,24}?(?:secret|token|password|key)[\w.\-]{0,16}?['\"]?\]?\s*(?::=|=>|=|:|,)\s*"
                rb"[rbu]?['\"]?([A-Za-z0-9_=\-]{32,64})(?![A-Za-z0-9_=\-])"
            ),
            severity=Severity.HIGH,
            min_entropy=3.5,
            back=48,
            forward=160,
        ),
        # --- chat, payments, messaging -----------------------------------------------------------------------
        SecretRule(
            id="code.secret.slack-token",
            description="Slack token",
            keywords=(b"xoxb-", b"xoxp-", b"xoxa-", b"xoxr-", b"xoxs-", b"xoxe", b"xapp-"),
            pattern=_bounded(
                rb"",
                rb"(?:xox[bpars]-\d{8,14}-[0-9A-Za-z\-]{10,110}|xoxe(?:\.xox[bp])?-\d-[A-Z0-9]{146,170}"
                rb"|xapp-\d-[A-Z0-9]{8,14}-\d{8,14}-[a-z0-9]{40,70})",
            ),
            severity=Severity.CRITICAL,
            min_entropy=3.0,
            back=1,
            forward=200,
        ),
        SecretRule(
            id="code.secret.slack-webhook",
            description="Slack incoming webhook",
            keywords=(b"hooks.slack.com",),
            pattern=re.compile(
                rb"(https?://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{8,16}/[A-Za-z0-9+/]{8,16}/"
                rb"[A-Za-z0-9+/]{16,64})"
            ),
            severity=Severity.HIGH,
            min_entropy=3.0,
            back=8,
            forward=160,
        ),
        SecretRule(
            id="code.secret.stripe-key",
            description="Stripe live secret or restricted key",
            keywords=(b"sk_live_", b"rk_live_", b"sk_prod_", b"rk_prod_"),
            pattern=_bounded(rb"(?:sk|rk)_(?:live|prod)_", rb"[0-9A-Za-z]{10,247}"),
            severity=Severity.CRITICAL,
            min_entropy=3.0,
            back=1,
            forward=264,
        ),
        SecretRule(
            id="code.secret.stripe-test-key",
            description="Stripe test secret key",
            keywords=(b"sk_test_", b"rk_test_"),
            pattern=_bounded(rb"(?:sk|rk)_test_", rb"[0-9A-Za-z]{10,247}"),
            severity=Severity.MEDIUM,
            min_entropy=3.0,
            back=1,
            forward=264,
            remediation=(
                "Roll the test key in the Stripe dashboard and load it from the environment; test keys still reach your account."
            ),
        ),
        SecretRule(
            id="code.secret.twilio-api-key",
            description="Twilio API key",
            keywords=(b"sk",),
            pattern=re.compile(rb"(?<![A-Za-z0-9_\-])(SK[0-9a-fA-F]{32})(?![A-Za-z0-9_\-])"),
            severity=Severity.HIGH,
            min_entropy=3.2,
            back=1,
            forward=40,
            context=ctx.mixed_hex,
        ),
        SecretRule(
            id="code.secret.twilio-auth-token",
            description="Twilio auth token",
            keywords=(b"twilio",),
            pattern=re.compile(
                rb"(?i)twilio[\w.\-]{0,24}?(?:auth|token|secret)[\w.\-]{0,16}?['\"]?\]?\s*(?::=|=>|=|:|,)\s*[rbu]?['\"]?"
                rb"([0-9a-f]{32})(?![0-9A-Za-z])"
            ),
            severity=Severity.HIGH,
            min_entropy=3.2,
            back=48,
            forward=160,
        ),
        SecretRule(
            id="code.secret.sendgrid-api-key",
            description="SendGrid API key",
            keywords=(b"sg.",),
            pattern=_bounded(rb"SG\.", rb"[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}"),
            severity=Severity.HIGH,
            min_entropy=3.5,
            back=1,
            forward=80,
        ),
        # --- package registries ------------------------------------------------------------------------------
        SecretRule(
            id="code.secret.npm-token",
            description="npm access token",
            keywords=(b"npm_",),
            pattern=_bounded(rb"npm_", rb"[A-Za-z0-9]{36}"),
            severity=Severity.CRITICAL,
            min_entropy=3.5,
            validate=_crc32_checksum,
            back=1,
            forward=48,
        ),
        SecretRule(
            id="code.secret.pypi-token",
            description="PyPI upload token",
            keywords=(b"pypi-ageichlwas5vcmc", b"pypi-agendgvzdc5wexbplm9yzw"),
            pattern=_bounded(rb"pypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)", rb"[A-Za-z0-9_\-]{50,1000}"),
            severity=Severity.CRITICAL,
            back=1,
            forward=1100,
        ),
        # --- AI services -------------------------------------------------------------------------------------
        SecretRule(
            id="code.secret.anthropic-api-key",
            description="Anthropic API key",
            keywords=(b"sk-ant-",),
            pattern=_bounded(rb"sk-ant-(?:api|admin|sid|oat)\d\d-", rb"[A-Za-z0-9_\-]{80,120}"),
            severity=Severity.CRITICAL,
            min_entropy=4.0,
            back=1,
            forward=140,
        ),
        SecretRule(
            id="code.secret.openai-api-key",
            description="OpenAI API key",
            keywords=(b"sk-",),
            pattern=_bounded(
                rb"sk-",
                rb"(?:(?:proj|svcacct|admin|None)-[A-Za-z0-9_\-]{40,250}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}|[A-Za-z0-9]{40,60})",
            ),
            severity=Severity.CRITICAL,
            min_entropy=4.0,
            back=1,
            forward=264,
            context=ctx.not_anthropic,
        ),
        SecretRule(
            id="code.secret.huggingface-token",
            description="Hugging Face access token",
            keywords=(b"hf_", b"api_org_"),
            pattern=_bounded(rb"(?:hf_|api_org_)", rb"[A-Za-z0-9]{30,40}"),
            severity=Severity.CRITICAL,
            min_entropy=3.3,
            back=1,
            forward=48,
        ),
        *_vendor_rules(),
        # --- structured tokens and keys ----------------------------------------------------------------------
        SecretRule(
            id="code.secret.jwt",
            description="JSON Web Token",
            keywords=(b"eyj",),
            pattern=_bounded(rb"", rb"eyJ[A-Za-z0-9_\-]{8,}={0,2}\.eyJ[A-Za-z0-9_\-]{8,}={0,2}\.[A-Za-z0-9_\-+/]{0,1000}={0,2}"),
            severity=Severity.HIGH,
            validate=ctx.jwt,
            back=1,
            forward=4096,
            remediation=(
                "Treat the token as leaked: rotate the signing key or revoke the session, and never commit live tokens."
            ),
        ),
        SecretRule(
            id="code.secret.private-key",
            description="private key",
            keywords=(b"private key",),
            pattern=re.compile(
                rb"(-----BEGIN [A-Z0-9 ]{0,24}PRIVATE KEY(?: BLOCK)?-----"
                rb"(?:[\sA-Za-z0-9+/=:,\-]|\\[nr]){64,}?-----END [A-Z0-9 ]{0,24}PRIVATE KEY(?: BLOCK)?-----)"
            ),
            severity=Severity.CRITICAL,
            back=40,
            forward=65536,
            multiline=True,
            remediation=_KEY_REMEDIATION,
        ),
        SecretRule(
            id="code.secret.putty-private-key",
            description="PuTTY private key",
            keywords=(b"putty-user-key-file-",),
            pattern=re.compile(
                rb"(PuTTY-User-Key-File-\d: [\s\S]{0,2000}?Private-Lines: \d+\r?\n(?:[A-Za-z0-9+/=]+\r?\n){1,64})"
            ),
            severity=Severity.CRITICAL,
            back=1,
            forward=16384,
            multiline=True,
            remediation=_KEY_REMEDIATION,
        ),
        # --- passwords and generic secrets -------------------------------------------------------------------
        SecretRule(
            id="code.secret.url-password",
            description="password in a URL or connection string",
            keywords=(b"://",),
            pattern=re.compile(
                rb"(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]{1,24}://([^\s:/?#@'\"<>\\`,]{0,64}):"
                rb"([^\s/?#@'\"<>\\`,]{1,128})@[A-Za-z0-9.\-_\[\]%]{1,255}"
            ),
            severity=Severity.HIGH,
            secret_group=2,
            context=ctx.url_password,
            back=32,
            forward=512,
            remediation=_PASSWORD_REMEDIATION,
        ),
        SecretRule(
            id="code.secret.bearer-token",
            description="bearer token in an Authorization header",
            keywords=(b"bearer ",),
            pattern=re.compile(rb"(?i)\bbearer\s+([A-Za-z0-9_\-.=+/~]{20,500})(?![A-Za-z0-9_\-.=+/~])"),
            severity=Severity.HIGH,
            min_entropy=3.5,
            context=ctx.bearer_token,
            back=1,
            forward=520,
        ),
        SecretRule(
            id="code.secret.password-assignment",
            description="hard-coded password",
            keywords=(b"password", b"passwd", b"passphrase", b"pwd", b"_pass", b"pass_", b"pass="),
            pattern=_assignment(rb"password|passwd|passphrase|pwd|(?<![a-z])pass(?![a-z])"),
            severity=Severity.HIGH,
            secret_group="value",
            context=ctx.password_assignment,
            back=64,
            forward=400,
            confidence=0.8,
            remediation=_PASSWORD_REMEDIATION,
        ),
        SecretRule(
            id="code.secret.generic-secret",
            description="hard-coded secret",
            keywords=(
                b"secret",
                b"token",
                b"api_key",
                b"apikey",
                b"api-key",
                b"api.key",
                b"access_key",
                b"accesskey",
                b"auth_key",
                b"authkey",
                b"private_key",
                b"privatekey",
                b"credential",
                b"signing_key",
                b"encryption_key",
            ),
            pattern=_assignment(
                rb"secret|token|api[_.\-]?key|access[_.\-]?key|auth[_.\-]?key|private[_.\-]?key|credentials?"
                rb"|signing[_.\-]?key|encryption[_.\-]?key"
            ),
            severity=Severity.HIGH,
            secret_group="value",
            context=ctx.secret_assignment,
            back=64,
            forward=400,
            confidence=0.8,
        ),
    )
    return rules
