"""Serving speed: the same scikit-learn model behind Bastion's server and behind ``mlflow models serve``, loaded by wrk
at a fixed concurrency in one run; requests/s, p50 and p99 of each, and Bastion with its security layers on and off.

    python benchmarks/serve.py                        # 16 connections, 3 rounds of 10 s per server
    python benchmarks/serve.py --connections 32 --duration 30 --rounds 5

- MLflow (benchmarks/.venv-anchors/serve, see anchors.py): the model read from Bastion's skops file and saved with
  ``mlflow.sklearn.save_model``; served with ``--env-manager local`` and one worker; requests are
  ``{"dataframe_records": [row]}`` to ``/invocations``.
- Bastion, layers on: what ``bastion serve`` runs (admission, then uvicorn with one worker), plus capture of every
  request to Parquet; requests carry a registry API token, pass the rate limits (set high enough never to refuse)
  and the schema's validation.
- Bastion, layers off: the same server with authentication, rate limits, capture and the schema's checks off
  (``security=False``).

The three servers run side by side and wrk loads them in turn, round after round, so a busy machine slows them
alike; medians over the rounds are reported. Every request is one row (the online case). wrk comes from Debian
(``apt-get install wrk``). The instance, model and MLflow model live under benchmarks/.work/serve/ and are removed
afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work" / "serve"
FEATURES = ("age", "income", "tenure")
ROW = {"age": 41, "income": 52000.5, "tenure": 3.25}


@dataclass(frozen=True)
class Result:
    """One server under load."""

    name: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass(frozen=True)
class Target:
    """A running server and the request wrk sends it."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    script: Path
    """wrk's Lua script: method, body and headers."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per server and round (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the three servers (default 3; medians reported)")
    parser.add_argument("--requests", type=int, default=3000, help="in-process requests per variant (default 3000)")
    parser.add_argument("--child", choices=("on", "off"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _serve_bastion(args.child == "on", args.port)
    if shutil.which("wrk") is None:
        print("serve benchmark: wrk is not installed; apt-get install wrk", file=sys.stderr)
        return 1
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    targets: list[Target] = []
    try:
        token = _instance()
        mlflow_model = _mlflow_model()
        predict = "/v1/models/churn/predict"
        targets = [
            _target("mlflow models serve", _start_mlflow(mlflow_model), "/invocations", {"dataframe_records": [ROW]}, None),
            _target("bastion (layers on)", _start_bastion("on"), predict, {"records": [ROW]}, token),
            _target("bastion (layers off)", _start_bastion("off"), predict, {"records": [ROW]}, None),
        ]
        for target in targets:
            _wrk(target, args.connections, 3)  # warm-up
        rounds = [[_wrk(target, args.connections, args.duration) for target in targets] for _ in range(args.rounds)]
        layers = _layer_cost(token, args.requests)
    finally:
        for target in targets:
            target.process.terminate()
            try:
                target.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                target.process.kill()
        shutil.rmtree(WORK, ignore_errors=True)
    _report([_median([round_[i] for round_ in rounds]) for i in range(len(targets))], args)
    on, off = layers
    print(
        f"in process, one request at a time ({args.requests} each, interleaved): layers on p50 {on[0]:.3f} ms, "
        f"p99 {on[1]:.3f} ms; off p50 {off[0]:.3f} ms, p99 {off[1]:.3f} ms; the layers add {on[0] - off[0]:+.3f} ms at p50, "
        f"{on[1] - off[1]:+.3f} ms at p99"
    )
    return 0


def _layer_cost(token: str, requests: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """p50 and p99 (ms) of one request through the app in this process, with the layers on and off, alternating in
    blocks of 100 so that both see the same machine: the layers' own cost, without the network's and the load's."""
    from fastapi.testclient import TestClient

    from bastion.serve._server import build_state
    from bastion.serve.app import create_app
    from bastion.serve.capture import ParquetCapture
    from bastion.serve.config import ModelReference, Rate, ServeConfig

    def client(security: bool) -> TestClient:
        config = ServeConfig(models=(ModelReference.parse("churn@prod"),), rate=Rate(1e7), security=security)
        capture = ParquetCapture(WORK / "capture-in-process") if security else None
        return TestClient(create_app(build_state(config, capture=capture)))

    clients = {True: client(True), False: client(False)}
    headers = {True: {"Authorization": f"Bearer {token}"}, False: {}}
    times: dict[bool, list[float]] = {True: [], False: []}
    body = {"records": [ROW]}
    for _ in range(requests // 100):
        for security in (True, False):
            for _ in range(100):
                started = time.perf_counter()
                response = clients[security].post("/v1/models/churn/predict", json=body, headers=headers[security])
                times[security].append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.text
    on, off = (statistics.quantiles(times[s], n=100) for s in (True, False))
    return (on[49], on[98]), (off[49], off[98])


# --- the model and the instance ------------------------------------------------------------------


def _environment() -> dict[str, str]:
    home = WORK / "home"
    return {**os.environ, "BASTION_HOME": str(home), "BASTION_ARTIFACT_ROOTS": str(WORK)}


def _instance() -> str:
    """A Bastion instance with the model registered, approved and in prod; the admin's token."""
    import numpy as np
    import pyarrow as pa
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    os.environ.update(_environment())
    from bastion.audit import AuditSigner
    from bastion.ml.persist import save_model
    from bastion.ml.schema import ModelSchema, describe_inputs
    from bastion.registry import Registry, Stage
    from bastion.signing import Kitfile, build_package, generate_key_pair, kitfile_yaml, sign_model
    from bastion.signing.kitfile import Docs, Model, Package

    rng = np.random.default_rng(0)
    rows = 2000
    age, income, tenure = rng.integers(18, 90, rows), rng.normal(50_000, 15_000, rows), rng.uniform(0, 10, rows)
    labels = (1.5 - 0.6 * tenure - (income - 50_000) / 20_000 + rng.normal(0, 0.5, rows) > 0).astype(np.int64)
    table = pa.table({"age": age, "income": income, "tenure": tenure, "churn": labels})
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(np.column_stack([age, income, tenure]), labels)
    source = WORK / "churn"
    saved = save_model(model, source, name="model")
    schema = ModelSchema(describe_inputs(table, FEATURES), "churn", ("0", "1"), "1", saved.path.name)
    schema.write(source)
    kitfile = Kitfile(
        package=Package(name="churn"),
        model=Model(name="churn", path=saved.path.name, framework="scikit-learn", format="skops"),
        docs=(Docs(path="schema.json"),),
    )
    (source / "Kitfile").write_text(kitfile_yaml(kitfile))

    home = WORK / "home"
    home.mkdir(mode=0o700)
    AuditSigner.open(home / "keys")
    (home / "audit").mkdir(mode=0o700)
    key = generate_key_pair(home / "keys" / "signing")
    package = WORK / "package"
    build_package(source, package)
    sign_model(package, key.private_key, package.with_name("package.sig"))
    registry = Registry.open(create=True)
    admin = registry.create_first_admin("root")
    assert admin is not None
    root = registry.authenticate(admin.token)
    registry.trust_key(root, key.public_key)
    engineer = registry.authenticate(registry.add_user(root, "engineer", ["ml-engineer"]).token)
    approver = registry.authenticate(registry.add_user(root, "approver", ["approver"]).token)
    version = registry.register(engineer, package, "churn").version
    registry.approve(approver, "churn", version)
    for stage in (Stage.STAGING, Stage.PROD):
        registry.promote(root, "churn", version, stage)
    registry.close()
    return admin.token


def _mlflow_model() -> Path:
    """The same model file, saved as an MLflow model by MLflow's own venv."""
    from anchors import bin_path, ensure_anchors  # type: ignore[import-not-found]

    ensure_anchors("serve")
    target = WORK / "mlflow-model"
    code = (
        "import sys, skops.io as sio, mlflow.sklearn\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "model = sio.loads(data, trusted=sio.get_untrusted_types(data=data))  # our own file, written just above\n"
        "mlflow.sklearn.save_model(model, sys.argv[2])\n"
    )
    subprocess.run([str(bin_path("serve", "python")), "-c", code, str(WORK / "churn" / "model.skops"), str(target)], check=True)
    return target


# --- servers -------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_mlflow(model: Path) -> tuple[subprocess.Popen[bytes], int]:
    from anchors import bin_path

    port = _free_port()
    argv = [str(bin_path("serve", "mlflow")), "models", "serve", "-m", str(model), "-h", "127.0.0.1", "-p", str(port)]
    env = {**os.environ, "PATH": f"{bin_path('serve', 'mlflow').parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # its uvicorn
    process = subprocess.Popen(
        [*argv, "--env-manager", "local", "-w", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return process, port


def _start_bastion(layers: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    argv = [sys.executable, __file__, "--child", layers, "--port", str(port)]
    return subprocess.Popen(argv, env=_environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), port


def _serve_bastion(security: bool, port: int) -> int:
    """The child: what ``bastion serve churn@prod`` runs, with the layers on (and capture) or off."""
    import uvicorn

    from bastion.serve._server import build_state
    from bastion.serve.app import create_app
    from bastion.serve.capture import ParquetCapture
    from bastion.serve.config import ModelReference, Rate, ServeConfig

    config = ServeConfig(models=(ModelReference.parse("churn@prod"),), port=port, rate=Rate(1e7), security=security)
    capture = ParquetCapture(WORK / "capture") if security else None
    state = build_state(config, capture=capture)
    uvicorn.run(create_app(state), host="127.0.0.1", port=port, access_log=False, server_header=False, log_level="warning")
    return 0


def _wait_until_up(port: int, process: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with status {process.returncode} before answering")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{name} did not start within 180 s")


# --- load ----------------------------------------------------------------------------------------


def _target(
    name: str, started: tuple[subprocess.Popen[bytes], int], path: str, body: dict[str, object], token: str | None
) -> Target:
    process, port = started
    _wait_until_up(port, process, name)
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    script = WORK / f"{port}.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
        + "".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n" for k, v in headers.items())
    )
    return Target(name, process, f"http://127.0.0.1:{port}{path}", script)


def _wrk(target: Target, connections: int, seconds: int) -> Result:
    argv = ["wrk", "-t", "1", "-c", str(connections), "-d", str(seconds), "--latency", "-s", str(target.script), target.url]
    return _parse(target.name, subprocess.run(argv, capture_output=True, text=True, check=True).stdout)


def _median(results: list[Result]) -> Result:
    return Result(
        results[0].name,
        statistics.median(r.requests_per_s for r in results),
        statistics.median(r.p50_ms for r in results),
        statistics.median(r.p99_ms for r in results),
        sum(r.errors for r in results),
    )


def _parse(name: str, output: str) -> Result:
    rate = re.search(r"Requests/sec:\s+([0-9.]+)", output)
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+([0-9.]+\w+)", output, re.MULTILINE))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if rate is None or set(percentiles) != {"50", "99"}:
        raise SystemExit(f"{name}: cannot read wrk's output:\n{output}")
    failed = int(errors.group(1)) if errors else 0
    failed += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    return Result(name, float(rate.group(1)), _ms(percentiles["50"]), _ms(percentiles["99"]), failed)


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _report(results: list[Result], args: argparse.Namespace) -> None:
    mlflow, on, off = results
    print(
        f"wrk, {args.connections} connections, {args.rounds} rounds of {args.duration} s per server (medians), "
        "one row per request"
    )
    print(f"{'server':<24}{'requests/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for result in results:
        print(f"{result.name:<24}{result.requests_per_s:>12.0f}{result.p50_ms:>10.2f}{result.p99_ms:>10.2f}{result.errors:>8}")
    print(
        f"bastion (layers on) / mlflow: {on.requests_per_s / mlflow.requests_per_s:.2f}x throughput, "
        f"p99 {on.p99_ms:.2f} ms vs {mlflow.p99_ms:.2f} ms"
    )
    print(
        f"security layers (auth, rate limit, validation, capture): +{on.p99_ms - off.p99_ms:.2f} ms at p99, "
        f"+{on.p50_ms - off.p50_ms:.2f} ms at p50"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH))
    raise SystemExit(main())
