"""Alerts: drift findings to webhooks (Slack, Telegram, PagerDuty Events v2), SARIF files and Prometheus gauges.

A target is a URL, its kind given by a prefix, its settings in the fragment (a fragment is never sent):

    https://alerts.example.org/bastion                                   generic JSON (Slack-compatible "text")
    slack+https://hooks.slack.com/services/T000/B000/XXXX                Slack incoming webhook
    telegram+https://api.telegram.org/bot<TOKEN>/sendMessage#chat_id=42  Telegram Bot API sendMessage
    pagerduty+https://events.pagerduty.com/v2/enqueue#routing_key=KEY    PagerDuty Events API v2

Every body is signed: ``X-Bastion-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body>`` with the key in
the ``BASTION_WEBHOOK_SECRET`` environment variable, the timestamp (Unix seconds) in ``X-Bastion-Timestamp`` so that a
receiver can refuse replays. Against server-side request forgery, the host is resolved once and every address
must be public: loopback, link-local (cloud metadata), private, shared, multicast, reserved and unspecified
addresses are refused unless a network in ``allowed_networks`` holds them; the connection goes to the address that
was checked (no second lookup to rebind), and each redirect is checked the same way before the body is posted
there again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import ipaddress
import json
import os
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urljoin, urlsplit

from bastion.core import Finding, Severity
from bastion.monitor.errors import MonitorError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Gauge

    from bastion.monitor.checks import CheckResult
    from bastion.monitor.quality import QualityResult

KINDS = ("webhook", "slack", "telegram", "pagerduty")
SECRET_VARIABLE = "BASTION_WEBHOOK_SECRET"
SIGNATURE_HEADER = "X-Bastion-Signature"
TIMESTAMP_HEADER = "X-Bastion-Timestamp"
TIMEOUT = 10.0
"""Seconds for each connection, send and read."""
MAX_REDIRECTS = 3
_MESSAGE_LINES = 20
"""Findings listed in a chat message; the rest are counted."""
_PAGERDUTY_SEVERITY = {
    Severity.CRITICAL: "critical",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "info",
    Severity.INFO: "info",
}
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class AlertError(MonitorError):
    """An alert could not be delivered, or its target is refused; the message names the target."""


@dataclass(frozen=True)
class AlertTarget:
    """Where an alert goes and in what shape."""

    kind: str
    """One of ``KINDS``."""
    url: str
    """The URL posted to, without the kind prefix and the fragment."""
    settings: Mapping[str, str]
    """The fragment's parameters: ``chat_id`` for Telegram, ``routing_key`` for PagerDuty."""

    @classmethod
    def parse(cls, text: str) -> AlertTarget:
        kind, _, rest = text.partition("+") if "+" in text.split("://", 1)[0] else ("webhook", "", text)
        parts = urlsplit(rest)
        if kind not in KINDS:
            raise AlertError(
                f"alert target {_shown(text)}: unknown kind {kind!r}; prefix the URL with slack+, telegram+ or pagerduty+"
            )
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AlertError(f"alert target {_shown(text)}: give an http:// or https:// URL")
        settings = {name: values[-1] for name, values in parse_qs(parts.fragment).items()}
        required = {"telegram": "chat_id", "pagerduty": "routing_key"}.get(kind)
        if required and not settings.get(required):
            raise AlertError(f"alert target {_shown(text)}: {kind} needs #{required}=… at the end of the URL")
        return cls(kind, parts._replace(fragment="").geturl(), settings)

    def __str__(self) -> str:
        return _shown(self.url)


@dataclass(frozen=True)
class Delivery:
    """The outcome of sending one alert to one target."""

    target: str
    """The target, its path and query hidden (they often hold tokens)."""
    status: int | None
    """The final HTTP status; None when nothing was answered."""
    error: str | None = None
    """Why it failed; None when it was delivered."""


def summary_text(findings: Sequence[Finding], *, title: str) -> str:
    """A chat message: the title, the count by severity, and one line per finding (the first few)."""
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.severity.value] = counts.get(finding.severity.value, 0) + 1
    lines = [f"{title}: {len(findings)} finding(s) " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))]
    lines += [f"- [{f.severity.value}] {f.rule_id} {f.location}: {f.message}" for f in findings[:_MESSAGE_LINES]]
    if len(findings) > _MESSAGE_LINES:
        lines.append(f"… and {len(findings) - _MESSAGE_LINES} more")
    return "\n".join(lines)


def alert_body(target: AlertTarget, findings: Sequence[Finding], *, title: str, source: str) -> dict[str, Any]:
    """The JSON body ``target`` takes for ``findings``; ``source`` names what was monitored (model and window)."""
    text = summary_text(findings, title=title)
    if target.kind == "telegram":
        return {"chat_id": target.settings["chat_id"], "text": text[:4096], "disable_web_page_preview": True}
    if target.kind == "pagerduty":
        return pagerduty_event(
            findings, routing_key=target.settings["routing_key"], summary=text.split("\n", 1)[0], source=source
        )
    body: dict[str, Any] = {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}]}
    if target.kind == "webhook":  # a generic receiver also gets the findings themselves
        body["findings"] = [finding.to_dict() for finding in findings]
    return body


def pagerduty_event(findings: Sequence[Finding], *, routing_key: str, summary: str, source: str) -> dict[str, Any]:
    """A PagerDuty Events API v2 ``trigger`` for ``findings``, deduplicated by source and rules: a check that keeps
    failing updates one incident instead of paging again."""
    worst = max((finding.severity for finding in findings), default=Severity.INFO)
    rules = sorted({finding.rule_id for finding in findings})
    dedup = hashlib.sha256(json.dumps([source, rules]).encode()).hexdigest()[:32]
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": f"bastion-{dedup}",
        "payload": {
            "summary": summary[:1024],
            "severity": _PAGERDUTY_SEVERITY[worst],
            "source": source,
            "component": source.split("@", 1)[0],
            "group": "bastion-monitor",
            "class": "drift",
            "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "custom_details": {"findings": [finding.to_dict() for finding in findings[:_MESSAGE_LINES]], "total": len(findings)},
        },
        "client": "Bastion",
    }


def send_alerts(
    targets: Sequence[AlertTarget],
    findings: Sequence[Finding],
    *,
    title: str,
    source: str,
    allowed_networks: Sequence[_Network] = (),
    timeout: float = TIMEOUT,
) -> list[Delivery]:
    """Send ``findings`` to every target (nothing when there are none); one failing target does not stop the others."""
    if not findings:
        return []
    secret = os.environ.get(SECRET_VARIABLE, "").encode() or None
    deliveries = []
    for target in targets:
        body = json.dumps(alert_body(target, findings, title=title, source=source)).encode("utf-8")
        try:
            status = post_json(target.url, body, secret=secret, allowed_networks=allowed_networks, timeout=timeout)
        except AlertError as exc:
            deliveries.append(Delivery(str(target), None, str(exc)))
        else:
            deliveries.append(Delivery(str(target), status))
    return deliveries


def post_json(
    url: str,
    body: bytes,
    *,
    secret: bytes | None,
    allowed_networks: Sequence[_Network] = (),
    timeout: float = TIMEOUT,
    max_redirects: int = MAX_REDIRECTS,
) -> int:
    """POST ``body`` to ``url`` with its HMAC signature (when there is a ``secret``); returns the final status.

    Every hop's host is resolved and checked before anything is sent; an answer of 400 or more is an error.
    """
    headers = {"Content-Type": "application/json", "User-Agent": "bastion-monitor"}
    if secret is not None:
        timestamp = str(int(time.time()))
        digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers |= {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: f"sha256={digest}"}
    previous_scheme = None
    for _ in range(max_redirects + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AlertError(f"{_shown(url)}: not an http:// or https:// URL")
        if previous_scheme == "https" and parts.scheme == "http":  # the body holds routing keys and chat ids
            raise AlertError(f"{_shown(url)}: an https target redirected to plain http; give the final https URL")
        previous_scheme = parts.scheme
        # The port is always given: http.client would read the last group of an IPv6 literal host as its port.
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = checked_address(parts.hostname, port, allowed_networks)
        connection: http.client.HTTPConnection = (
            _PinnedHTTPSConnection(parts.hostname, address, port, timeout)
            if parts.scheme == "https"
            else _PinnedHTTPConnection(parts.hostname, address, port, timeout)
        )
        try:
            connection.request("POST", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), body, headers)
            response = connection.getresponse()
            response.read(65536)
            status, location = response.status, response.getheader("Location")
        except (OSError, http.client.HTTPException) as exc:
            raise AlertError(f"{_shown(url)}: cannot deliver the alert ({exc})") from None
        finally:
            connection.close()
        if status in (301, 302, 303, 307, 308) and location:
            url = urljoin(url, location)
            continue
        if status >= 400:
            raise AlertError(f"{_shown(url)}: the receiver answered HTTP {status}")
        return status
    raise AlertError(f"{_shown(url)}: more than {max_redirects} redirects; give the final URL")


def checked_address(host: str, port: int, allowed_networks: Sequence[_Network] = ()) -> str:
    """The address to connect to for ``host``: every address it resolves to must be public or allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise AlertError(f"{host}: cannot resolve the alert target's host ({exc.strerror})") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    for address in addresses:
        plain = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped else address
        if _is_public(plain) or any(plain in network for network in allowed_networks):
            continue
        raise AlertError(
            f"{host}: resolves to {plain}, a non-public address; alerts go to public hosts unless the network is "
            "allowed (--alert-allow-network)"
        )
    return str(addresses[0])


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address.sixtofour is not None and not _is_public(address.sixtofour):  # 2002:7f00:1:: is 127.0.0.1 by 6to4
            return False
        if address.is_site_local:  # fec0::/10, deprecated but still routed inside some sites
            return False
    return not (
        address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address in ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: shared, not public
    )


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """HTTP to the address that was checked, with the host name in the Host header."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to the address that was checked; the certificate is verified against the host name (SNI too)."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def write_sarif(findings: Sequence[Finding], target: Path) -> Path:
    """``findings`` as a SARIF 2.1.0 file (DefectDojo's "SARIF" import), written atomically."""
    from bastion.core import Report, atomic_write
    from bastion.core.formats.sarif import SarifFormatter

    text = SarifFormatter().format(Report(scanned=(), findings=tuple(findings)))
    try:
        atomic_write(target, text.encode("utf-8"))
    except OSError as exc:
        raise MonitorError(f"{target}: cannot write the SARIF file: {exc.strerror or exc}") from None
    return target


@dataclass(frozen=True)
class DriftGauges:
    """The monitor's Prometheus gauges, registered in one collector registry."""

    column_drift: Gauge
    """``bastion_drift_column_statistic{model,column,method}``: a column's drift statistic (p-value or distance)."""
    column_drifted: Gauge
    """``bastion_drift_column_drifted{model,column}``: 1 when the column drifted in the last check, else 0."""
    drift_share: Gauge
    """``bastion_drift_share{model}``: the share of compared columns that drifted."""
    violations: Gauge
    """``bastion_monitor_violations{model,check}``: violations of each check type in the last check."""
    quality: Gauge
    """``bastion_model_quality{model,metric}``: quality and bias metrics of the last window."""
    attribution_ndcg: Gauge
    """``bastion_attribution_ndcg{model}``: nDCG of the last window's attribution ranking against the baseline."""
    last_check: Gauge
    """``bastion_monitor_last_check_timestamp_seconds{model}``: when the model was last checked."""

    def record_data(self, model: str, result: CheckResult) -> None:
        """Set the data drift gauges from a data check."""
        for column in result.columns:
            self.column_drift.labels(model, column.column, column.method).set(column.statistic)
            self.column_drifted.labels(model, column.column).set(1.0 if column.drifted else 0.0)
        self.drift_share.labels(model).set(result.drift_share)
        self._violations(model, [violation.constraint_check_type for violation in result.violations])

    def record_quality(self, model: str, result: QualityResult) -> None:
        """Set the quality gauges from a quality check."""
        for metric, value in result.metrics.items():
            if value is not None:
                self.quality.labels(model, metric).set(value)
        if result.ndcg is not None:
            self.attribution_ndcg.labels(model).set(result.ndcg)
        self._violations(model, [violation.constraint_check_type for violation in result.violations])

    def _violations(self, model: str, check_types: Sequence[str]) -> None:
        for check_type in set(check_types):
            self.violations.labels(model, check_type).set(check_types.count(check_type))
        self.last_check.labels(model).set(time.time())


METRIC_NAMES = (
    "bastion_drift_column_statistic",
    "bastion_drift_column_drifted",
    "bastion_drift_share",
    "bastion_monitor_violations",
    "bastion_model_quality",
    "bastion_attribution_ndcg",
    "bastion_monitor_last_check_timestamp_seconds",
)
"""The gauges ``register_drift_gauges`` exports, which the Grafana dashboard plots."""


def register_drift_gauges(registry: CollectorRegistry) -> DriftGauges:
    """Register the monitor's gauges in ``registry`` (the server's, or one written to a textfile)."""
    from prometheus_client import Gauge

    def gauge(name: str, documentation: str, labels: tuple[str, ...]) -> Gauge:
        return Gauge(name, documentation, labels, registry=registry)

    names = iter(METRIC_NAMES)
    return DriftGauges(
        column_drift=gauge(next(names), "Drift statistic of a column (p-value or distance)", ("model", "column", "method")),
        column_drifted=gauge(next(names), "1 when the column drifted in the last check", ("model", "column")),
        drift_share=gauge(next(names), "Share of compared columns that drifted", ("model",)),
        violations=gauge(next(names), "Violations of each check type in the last check", ("model", "check")),
        quality=gauge(next(names), "Quality and bias metrics of the last window", ("model", "metric")),
        attribution_ndcg=gauge(next(names), "nDCG of the attribution ranking against the baseline", ("model",)),
        last_check=gauge(next(names), "Unix time of the model's last check", ("model",)),
    )


def write_textfile(registry: CollectorRegistry, target: Path) -> Path:
    """The registry in Prometheus' text format at ``target`` (a ``*.prom`` file for node-exporter's textfile
    collector), replaced atomically so the collector never reads half a file."""
    from prometheus_client import generate_latest

    from bastion.core import atomic_write

    try:
        atomic_write(target, generate_latest(registry))
    except OSError as exc:
        raise MonitorError(f"{target}: cannot write the metrics file: {exc.strerror or exc}") from None
    return target


def parse_networks(texts: Sequence[str]) -> tuple[_Network, ...]:
    """``--alert-allow-network`` values: ``127.0.0.1/32``, ``10.0.0.0/8``, ``::1/128``."""
    try:
        return tuple(ipaddress.ip_network(text, strict=False) for text in texts)
    except ValueError as exc:
        raise AlertError(f"--alert-allow-network: {exc}; give a network such as 10.0.0.0/8") from None


def _shown(url: str) -> str:
    """``url`` without what may be a secret: the path and query of webhook URLs carry tokens."""
    parts = urlsplit(url.split("+", 1)[-1] if "+" in url.split("://", 1)[0] else url)
    host = parts.netloc.rpartition("@")[2]  # user:password@ is a credential too
    return f"{parts.scheme}://{host}/…" if parts.path not in ("", "/") or parts.query else f"{parts.scheme}://{host}"
