"""The secret-scan benchmark's input: a source tree of real library code with planted secrets and decoys.

    generate(root, size_mb, seed) -> list[Planted]

Real files (``.py``, ``.json``, ``.js``, ``.md``, ``.ipynb``, ``.toml``, ``.yaml``, lock files) are copied from
Bastion's own venv until the tree reaches the asked size; then secrets of every family are planted in varied
contexts (inserted into copied library files, in ``.env``/YAML/JSON configuration, in notebook cells and
outputs, split by ``+``, base64-encoded, passed as call arguments, inside URLs), and decoy files are added:
git SHAs, image digests, lock-file integrity hashes, base64 PNGs in notebooks, the documented AWS example keys,
UUIDs, checksums, placeholders and environment lookups. The ground truth stays here, in ``truth.json``
beside the tree: (path, first line, last line, family) of every planted secret. Generated tokens only; none
is real.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import shutil
import string
import sys
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the token generators are the tests' own: one definition of each family's shape

from tests.code import samples  # noqa: E402

GENERATOR_VERSION = 3
SITE_PACKAGES = REPO / ".venv" / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
_SUFFIXES = (".py", ".json", ".js", ".md", ".ipynb", ".toml", ".yaml", ".yml", ".lock", ".cfg", ".txt")
_MAX_FILE = 2 * 1024 * 1024
_SKIP_PARTS = ("bastion", "__pycache__", "tests/code")  # never copy the scanner's own test corpus


@dataclass(frozen=True)
class Planted:
    """One planted secret: where it is and what it is."""

    path: str
    """Relative to the tree's root, with ``/``."""
    first_line: int
    last_line: int
    family: str
    context: str


ENV_NAMES = {
    "code.secret.aws-access-key-id": "AWS_ACCESS_KEY_ID",
    "code.secret.aws-secret-access-key": "AWS_SECRET_ACCESS_KEY",
    "code.secret.gcp-api-key": "GOOGLE_MAPS_API_KEY",
    "code.secret.gcp-oauth-client-secret": "GOOGLE_CLIENT_SECRET",
    "code.secret.azure-storage-account-key": "AZURE_STORAGE_KEY",
    "code.secret.azure-client-secret": "AZURE_CLIENT_SECRET",
    "code.secret.github-token": "GITHUB_TOKEN",
    "code.secret.github-fine-grained-token": "GH_PAT",
    "code.secret.gitlab-token": "GITLAB_TOKEN",
    "code.secret.atlassian-api-token": "JIRA_API_TOKEN",
    "code.secret.slack-token": "SLACK_BOT_TOKEN",
    "code.secret.slack-webhook": "SLACK_WEBHOOK_URL",
    "code.secret.stripe-key": "STRIPE_SECRET_KEY",
    "code.secret.twilio-api-key": "TWILIO_API_KEY",
    "code.secret.sendgrid-api-key": "SENDGRID_API_KEY",
    "code.secret.npm-token": "NPM_TOKEN",
    "code.secret.pypi-token": "TWINE_PASSWORD",
    "code.secret.openai-api-key": "OPENAI_API_KEY",
    "code.secret.anthropic-api-key": "ANTHROPIC_API_KEY",
    "code.secret.huggingface-token": "HF_TOKEN",
    "code.secret.jwt": "SERVICE_JWT",
    "code.secret.url-password": "DATABASE_URL",
    "code.secret.password-assignment": "DB_PASSWORD",
    "code.secret.generic-secret": "SESSION_SECRET",
}


def _written(family: str, secret: str) -> str:
    """The value as it stands in a configuration file (a URL for the families that live in one)."""
    if family == "code.secret.url-password":
        return f"postgresql://etl:{secret}@warehouse.internal:5432/analytics"
    if family == "code.secret.azure-storage-account-key":
        return f"DefaultEndpointsProtocol=https;AccountName=mlstore;AccountKey={secret};EndpointSuffix=core.windows.net"
    return secret


def generate(root: Path, size_mb: float, seed: int) -> list[Planted]:
    """Build the tree at ``root`` (reused when it was built with the same size, seed and generator)."""
    truth_file = root.parent / f"{root.name}-truth.json"
    key = {"size_mb": size_mb, "seed": seed, "version": GENERATOR_VERSION}
    if truth_file.exists() and root.exists():
        saved = json.loads(truth_file.read_text())
        if saved.get("key") == key:
            return [Planted(**item) for item in saved["planted"]]
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    rng = random.Random(seed)
    copied = _copy_library_code(root, int(size_mb * 0.93 * 1024 * 1024), rng)
    _write_decoys(root, rng)
    planted = _plant(root, copied, rng)
    truth_file.write_text(json.dumps({"key": key, "planted": [asdict(p) for p in planted]}, indent=1) + "\n")
    return planted


def tree_size(root: Path) -> int:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())


# --- real code ---------------------------------------------------------------------------------------------


def _copy_library_code(root: Path, budget: int, rng: random.Random) -> list[Path]:
    candidates = []
    for directory, _dirs, files in os.walk(SITE_PACKAGES):
        rel_dir = os.path.relpath(directory, SITE_PACKAGES)
        if any(part in rel_dir for part in _SKIP_PARTS):
            continue
        for name in files:
            if name.endswith(_SUFFIXES) or name in ("poetry.lock", "package-lock.json", "yarn.lock", "uv.lock"):
                path = Path(directory, name)
                size = path.stat().st_size
                if 0 < size <= _MAX_FILE:
                    candidates.append((os.path.join(rel_dir, name), size))
    candidates.sort()
    rng.shuffle(candidates)
    copied, total = [], 0
    for rel, size in candidates:
        if total >= budget:
            break
        target = root / "lib" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SITE_PACKAGES / rel, target)
        copied.append(target)
        total += size
    return copied


# --- decoys ------------------------------------------------------------------------------------------------


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _png(rng: random.Random, n: int) -> str:
    return base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(rng.randrange(256) for _ in range(n))).decode()


def _write_decoys(root: Path, rng: random.Random) -> None:
    decoys = root / "project"
    (decoys / "web").mkdir(parents=True, exist_ok=True)
    (decoys / "deploy").mkdir(parents=True, exist_ok=True)
    (decoys / "notebooks").mkdir(parents=True, exist_ok=True)
    packages = {}
    for i in range(1500):
        name = f"pkg-{i}-{_hex(rng, 4)}"
        digest = base64.b64encode(hashlib.sha512(name.encode()).digest()).decode()
        packages[f"node_modules/{name}"] = {
            "version": f"{rng.randrange(10)}.{rng.randrange(20)}.{rng.randrange(30)}",
            "resolved": f"https://registry.npmjs.org/{name}/-/{name}-1.0.0.tgz",
            "integrity": f"sha512-{digest}",
        }
    lock = {"name": "web", "lockfileVersion": 3, "requires": True, "packages": packages}
    (decoys / "web" / "package-lock.json").write_text(json.dumps(lock, indent=2) + "\n")
    poetry = []
    for i in range(800):
        poetry.append(
            f'[[package]]\nname = "lib{i}"\nversion = "1.{i}.0"\nfiles = [\n'
            f'    {{file = "lib{i}-1.{i}.0-py3-none-any.whl", hash = "sha256:{_hex(rng, 64)}"}},\n]\n'
        )
    (decoys / "poetry.lock").write_text("\n".join(poetry))
    (decoys / "requirements.txt").write_text(
        "".join(f"lib{i}==1.{i}.0 \\\n    --hash=sha256:{_hex(rng, 64)}\n" for i in range(400))
    )
    (decoys / "deploy" / "Dockerfile").write_text(
        f"FROM python:3.11-slim@sha256:{_hex(rng, 64)}\nCOPY --from=ghcr.io/astral-sh/uv@sha256:{_hex(rng, 64)} /uv /bin/\n"
        'ENV DB_PASSWORD=""\nARG GITHUB_TOKEN\n'
    )
    (decoys / "deploy" / "k8s.yaml").write_text(
        "".join(
            f"- name: svc{i}\n  image: registry.internal/svc{i}@sha256:{_hex(rng, 64)}\n"
            f"  env:\n    - name: DB_PASSWORD\n      valueFrom: {{secretKeyRef: {{name: db, key: password}}}}\n"
            f"  annotations:\n    checksum/config: {_hex(rng, 64)}\n    deployment-id: {uuid.UUID(int=rng.getrandbits(128))}\n"
            for i in range(200)
        )
    )
    changelog = [f"- {_hex(rng, 40)} {rng.choice(['fix', 'feat', 'docs'])}: change {i} ({_hex(rng, 7)})" for i in range(3000)]
    (decoys / "CHANGELOG.md").write_text("# Changes\n\n" + "\n".join(changelog) + "\n")
    (decoys / "SHA256SUMS").write_text("".join(f"{_hex(rng, 64)}  dist/file{i}.tar.gz\n" for i in range(500)))
    (decoys / "ids.json").write_text(
        json.dumps([{"id": str(uuid.UUID(int=rng.getrandbits(128))), "md5": _hex(rng, 32)} for _ in range(2000)], indent=1)
    )
    (decoys / "config_example.py").write_text(
        "# Example configuration: copy to config.py and fill in.\n"
        'AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"\n'
        'AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"\n'
        'password = os.environ["DB_PASSWORD"]\n'
        "password = None\n"
        'password = "${DB_PASS}"\n'
        "password = settings.PASSWORD\n"
        'password = "changeme"\n'
        'api_key = "<your-api-key>"\n'
        'GITHUB_TOKEN = os.getenv("GITHUB_TOKEN")\n'
        'token = "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"\n'
        'DATABASE_URL = "postgresql://user:password@localhost:5432/app"\n'
        'SECRET_KEY = "{{ secret_key }}"\n'
        "git_sha = '" + _hex(rng, 40) + "'\n"
        "request_id = '" + str(uuid.UUID(int=rng.getrandbits(128))) + "'\n"
        "checksum = '" + _hex(rng, 32) + "'\n"
        'thumbnail = "data:image/png;base64,' + _png(rng, 300) + '"\n'
    )
    for n in range(30):
        cells = []
        for c in range(6):
            cells.append(
                {
                    "cell_type": "code",
                    "execution_count": c + 1,
                    "id": _hex(rng, 8),
                    "metadata": {},
                    "outputs": [
                        {"output_type": "stream", "name": "stdout", "text": [f"epoch {c}: loss 0.{rng.randrange(10**6)}\n"]},
                        {
                            "output_type": "display_data",
                            "metadata": {},
                            "data": {"image/png": _png(rng, 6000), "text/plain": ["<Figure size 640x480 with 1 Axes>"]},
                        },
                    ],
                    "source": [f"plt.plot(history['loss'])  # run {_hex(rng, 12)}\n", "plt.show()"],
                }
            )
        document = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        (decoys / "notebooks" / f"plots_{n}.ipynb").write_text(json.dumps(document, indent=1) + "\n")


# --- planted secrets ---------------------------------------------------------------------------------------


def _insert(path: Path, at: int, lines: list[str]) -> int:
    """Insert ``lines`` before line ``at`` (1-based, clamped) of ``path``; the first inserted line's number."""
    text = path.read_text(encoding="utf-8", errors="surrogateescape").splitlines(keepends=True)
    at = max(1, min(at, len(text) + 1))
    if at > 1 and not text[at - 2].endswith("\n"):
        text[at - 2] += "\n"
    text[at - 1 : at - 1] = [line + "\n" for line in lines]
    path.write_text("".join(text), encoding="utf-8", errors="surrogateescape")
    return at


def _plant(root: Path, copied: list[Path], rng: random.Random) -> list[Planted]:
    planted: list[Planted] = []
    python_files = sorted(p for p in copied if p.suffix == ".py")
    rng.shuffle(python_files)
    app = root / "project" / "app"
    app.mkdir(parents=True, exist_ok=True)
    config = root / "project" / "config"
    config.mkdir(parents=True, exist_ok=True)

    def rel(path: Path) -> str:
        return path.relative_to(root).as_posix()

    def add_lines(path: Path, lines: list[str], family: str, context: str, at: int | None = None) -> None:
        if not path.exists():
            path.write_text("")
        size = len(path.read_text(encoding="utf-8", errors="surrogateescape").splitlines())
        first = _insert(path, at if at is not None else size + 1, lines)
        planted.append(Planted(rel(path), first, first + len(lines) - 1, family, context))

    env_lines: list[tuple[str, str]] = []
    for index, (family, sample) in enumerate(sorted(samples.SAMPLES.items())):
        # 1. The sample's own line of code, inserted into a real library file.
        secret, template = sample(rng)
        host = python_files[index]
        add_lines(host, [template.format(secret)], family, "code in a library file", at=rng.randrange(1, 200))
        # 2. A configuration file: .env, YAML or JSON.
        secret, _ = sample(rng)
        name = ENV_NAMES[family]
        kind = index % 3
        written = _written(family, secret)
        if kind == 0:
            env_lines.append((family, f"{name}={written}"))
        elif kind == 1:
            add_lines(config / f"{family.rsplit('.', 1)[-1]}.yaml", [f"{name.lower()}: {written}"], family, "YAML")
        else:
            add_lines(config / f"{family.rsplit('.', 1)[-1]}.json", [f'{{"{name.lower()}": "{written}"}}'], family, "JSON")
        # 3. A notebook: in the source of a cell, or in what a cell printed.
        secret, template = sample(rng)
        source = ["import os\n", template.format(secret) + "\n"]
        outputs: list[dict[str, object]] = []
        if index % 2:
            source = ["print(os.environ)\n"]
            outputs = [{"output_type": "stream", "name": "stdout", "text": [f"{name}={_written(family, secret)}\n"]}]
        cell = {
            "cell_type": "code",
            "execution_count": 1,
            "id": _hex(rng, 8),
            "metadata": {},
            "outputs": outputs,
            "source": source,
        }
        document = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        notebook = root / "project" / "notebooks" / f"explore_{index}.ipynb"
        notebook.write_text(json.dumps(document, indent=1) + "\n")
        planted.append(Planted(rel(notebook), 1, 10**6, family, "notebook " + ("output" if outputs else "cell")))

    env = root / "project" / "deploy" / ".env"
    for family, line in env_lines:
        add_lines(env, [line], family, ".env")

    # Contexts the anchors are known to miss or that need decoding.
    aws_id, aws_secret = samples.aws_key_id(rng), samples.aws_secret(rng)
    add_lines(
        app / "storage.py",
        ["import boto3", "", f"s3 = boto3.client('s3', aws_access_key_id='{aws_id}', aws_secret_access_key='{aws_secret}')"],
        "code.secret.aws-secret-access-key",
        "call arguments",
    )
    hf = "hf_" + samples.pick(string.ascii_letters, 34, rng)
    add_lines(
        app / "hub.py", ["from huggingface_hub import login", f'login(token="{hf}")'], "code.secret.huggingface-token", "call"
    )
    key_id = samples.aws_key_id(rng)
    add_lines(
        app / "split.py",
        [f'AWS_KEY = "{key_id[:4]}" + "{key_id[4:12]}" + "{key_id[12:]}"'],
        "code.secret.aws-access-key-id",
        "concatenation",
    )
    token = samples.github_token(rng=rng)
    encoded = base64.b64encode(token.encode()).decode()
    add_lines(
        root / "project" / "deploy" / "secret.yaml",
        ["apiVersion: v1", "kind: Secret", "metadata:", "  name: ci", "data:", f"  github_token: {encoded}"],
        "code.secret.github-token",
        "base64 in a Kubernetes secret",
    )
    for scheme, user in (("mysql", "root"), ("redis", ""), ("amqp", "worker"), ("mongodb+srv", "admin")):
        password = samples.strong_password(rng).replace("@", "x").replace("#", "x").replace("/", "x").replace("%", "x")
        add_lines(
            app / "connections.py",
            [f'{scheme.upper().replace("+", "_")}_URL = "{scheme}://{user}:{password}@{scheme.split("+")[0]}.internal/db"'],
            "code.secret.url-password",
            "password in a URL",
        )
    for value in ("Summer2024!", "Winter1999#", "Falcon2021$"):
        add_lines(app / "db.py", [f'password = "{value}"'], "code.secret.password-assignment", "low-entropy keyword password")
    add_lines(
        config / "db.yaml", ["database:", "  host: db", "  password: Orchid2023!"], "code.secret.password-assignment", "YAML"
    )
    project = "sk-proj-" + samples.pick(samples.ALNUM + "_-", 124, rng) + "T3BlbkFJ" + samples.pick(samples.ALNUM, 20, rng)
    add_lines(
        app / "llm.py",
        ["from openai import OpenAI", f'client = OpenAI(api_key="{project}")'],
        "code.secret.openai-api-key",
        "call",
    )
    pem = samples.private_key_pem().strip().splitlines()
    add_lines(root / "project" / "deploy" / "server.key", pem, "code.secret.private-key", "PEM file")
    ssh = samples.private_key_pem("openssh").strip().splitlines()
    add_lines(root / "project" / "deploy" / "id_ed25519", ssh, "code.secret.private-key", "OpenSSH key file")
    inline = samples.private_key_pem().strip().splitlines()
    add_lines(app / "tls.py", ['KEY = """', *inline, '"""'], "code.secret.private-key", "PEM in a string")
    account = samples.gcp_service_account(rng).splitlines()
    add_lines(config / "service-account.json", account, "code.secret.gcp-service-account-key", "service-account JSON")
    add_lines(app / "blob.py", [f'BLOB_URL = "{samples.azure_sas_url(rng)}"'], "code.secret.azure-sas-token", "SAS URL")
    return planted
