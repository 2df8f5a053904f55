"""A local stand-in for the advisory servers, on 127.0.0.1: archive downloads and the OSV API's two endpoints.

It serves the fixture records in the real layouts: OSV's PyPI ``all.zip`` (one ``ID.json`` per
advisory) and the PyPA advisory-database repository archive (``advisory-database-main/vulns/
<package>/ID.yaml``). Its ``querybatch`` returns every record naming the package, whatever the
version, so the client's own range check is what decides.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

FIXTURES = Path(__file__).parent / "fixtures"


def osv_records() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((FIXTURES / "osv").glob("*.json"))}


def osv_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((FIXTURES / "osv").glob("*.json")):
            archive.writestr(path.name, path.read_bytes())
    return buffer.getvalue()


def pypa_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("advisory-database-main/README.md", "# PyPA advisory database\n")
        for path in sorted((FIXTURES / "pypa").rglob("*.yaml")):
            archive.writestr(f"advisory-database-main/vulns/{path.parent.name}/{path.name}", path.read_bytes())
    return buffer.getvalue()


class _Handler(BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}
    records: ClassVar[dict[str, dict[str, Any]]] = {}
    requests: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.requests.append(f"GET {self.path}")
        if self.path in self.files:
            self._send(200, self.files[self.path], "application/zip")
        elif self.path.startswith("/v1/vulns/") and self.path.removeprefix("/v1/vulns/") in self.records:
            self._send(200, json.dumps(self.records[self.path.removeprefix("/v1/vulns/")]).encode())
        else:
            self._send(404, b'{"code": 5, "message": "Not Found"}')

    def do_POST(self) -> None:
        self.requests.append(f"POST {self.path}")
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path != "/v1/querybatch":
            self._send(404, b"{}")
            return
        results = []
        for query in body["queries"]:
            name = query["package"]["name"]
            vulns = [
                {"id": rid, "modified": record["modified"]}
                for rid, record in self.records.items()
                if any(a["package"]["name"].lower() == name for a in record.get("affected", []))
            ]
            results.append({"vulns": vulns} if vulns else {})
        self._send(200, json.dumps({"results": results}).encode())


@contextmanager
def advisory_server(files: dict[str, bytes] | None = None) -> Iterator[tuple[str, list[str]]]:
    """Serve ``files`` (path -> bytes) and the OSV API over the fixture records; yields (base URL, request log)."""
    handler = type("Handler", (_Handler,), {"files": files or {}, "records": osv_records(), "requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.requests
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A local port nothing listens on."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
