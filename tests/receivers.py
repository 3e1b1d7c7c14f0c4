"""Local receivers for notification tests: a webhook receiver (a small threaded HTTP server)
and an SMTP receiver (a tiny socket server), both on 127.0.0.1, recording what arrives; and
a small deployment whose tickets and calls fall due within seconds."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from conftest import write_files


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when it arrived

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a burst of deliveries connects at once


@dataclass
class WebhookReceiver:
    """Answers each POST with the next of `statuses` (then 200), `delay_s` after it arrived,
    and records it."""

    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.received.append(
                        Received(self.path, dict(self.headers.items()), body, time.time())
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                time.sleep(receiver.delay_s)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def wait_for(self, path: str, count: int, timeout: float = 30) -> list[Received]:
        """At least `count` requests to `path`, waiting up to `timeout` seconds for them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.at(path)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{len(self.at(path))} request(s) to {path}, expected {count}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpReceiver:
    """Just enough SMTP to take messages: EHLO/HELO, MAIL, RCPT, DATA, QUIT."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        receiver = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.wfile.write(b"220 test ESMTP\r\n")
                mail: dict[str, Any] = {"to": []}
                while line := self.rfile.readline():
                    verb = line.decode().strip().split(" ", 1)[0].upper()
                    if verb == "DATA":
                        self.wfile.write(b"354 go ahead\r\n")
                        data = b""
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                            data += chunk
                        receiver.messages.append({**mail, "data": data.decode()})
                        mail = {"to": []}
                        self.wfile.write(b"250 ok\r\n")
                    elif verb == "RCPT":
                        mail["to"].append(line.decode().split(":", 1)[1].strip().strip("<>"))
                        self.wfile.write(b"250 ok\r\n")
                    elif verb == "QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    else:  # EHLO, HELO, MAIL, RSET, NOOP
                        self.wfile.write(b"250 ok\r\n")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def wait_for(self, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.messages)} message(s), expected {count}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


DEPLOYMENT = """
    deployment: alarms
    allow_webhook_networks: [127.0.0.0/8]  # the test receivers listen on this machine
    fallback:
      ring: desk
    entries:
      "+12125550100": main
      "+12125550101": limited
    targets:
      desk:
        uri: sip:desk@example.com
      offshore:
        kind: external
        uri: "+443005550100"
    boards:
      office:
        name: Office
    contacts:
      manager:
        name: Office manager
        webhook: {hooks}/manager
      duty:
        name: Duty manager
        webhook: {hooks}/duty
        {duty_email}
    """
FLOWS = """
    flow: main
    start: ring-offshore
    nodes:
      ring-offshore:
        ring: offshore
        reports: [needs-office]
        on:
          needs-office: office-ticket
          no-answer: bye
      office-ticket:
        ticket: office
        sla: {sla}
        managers: manager
        escalate:
          - after: {escalate}
            notify: duty
        next: bye
      bye:
        hangup:
    ---
    flow: limited
    resolve_within: {limit}
    notify: duty
    start: ring-desk
    nodes:
      ring-desk:
        ring: desk
        on:
          no-answer: note
      note:
        ticket: office
        next: bye
      bye:
        hangup:
    """


def alarms(
    root: Path,
    hooks: str,
    sla: str = "2s",
    escalate: str = "1h",
    limit: str = "1h",
    duty_email: str = "",
) -> Path:
    """A deployment whose office tickets (dial +12125550100, answer, report needs-office) are
    due after `sla` and escalate to the duty manager after `escalate`, and whose other flow
    (+12125550101) must resolve its calls within `limit`."""
    email = f"email: {duty_email}" if duty_email else ""
    return write_files(
        root / "alarms",
        {
            "deployment.yaml": DEPLOYMENT.replace("{hooks}", hooks).replace("{duty_email}", email),
            "flows.yaml": FLOWS.replace("{sla}", sla)
            .replace("{escalate}", escalate)
            .replace("{limit}", limit),
        },
    )
