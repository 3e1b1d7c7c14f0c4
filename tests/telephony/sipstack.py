"""Real SIP around the engine for the telephony tests: the engine (uvicorn, its clock set with
`serve --now`), Kamailio with the shipped configuration (only its addresses given with -A), and
SIPp playing the caller and the phones, each on free 127.0.0.1 ports, each stopped by its PID.

Kamailio and SIPp come from Debian (scripts/test-deps.sh installs them); a missing one fails the
tests saying so, never skips them."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from conftest import ROOT, copy_hospital

SIPP_DIR = Path(__file__).resolve().parent / "sipp"
SERVE = (sys.executable, "cli.py", "serve")
KAMAILIO_CFG = ROOT / "examples" / "telephony" / "kamailio" / "kamailio.cfg"
# The hospital's targets by the user part of their URIs (sip:USER@mercy.example), and the
# voicemail server the tests add.
TARGETS = {
    "er-nurse": "er-nurse",
    "er-nurse-backup": "er-nurse-backup",
    "cardiology": "cardiology-office",
    "radiology": "radiology-office",
    "billing-ny": "billing-ny",
    "billing-central": "billing-central",
    "pharmacy": "pharmacy-office",
    "front-desk": "front-desk-office",
}
PHONES = (*TARGETS.values(), "offshore-center", "voicemail")


def need(program: str) -> str:
    """The program's path; fails (never skips) when it is not installed."""
    path = shutil.which(program) or (
        f"/usr/sbin/{program}" if Path(f"/usr/sbin/{program}").exists() else None
    )
    if path is None:
        raise AssertionError(
            f"{program} is not installed: run `bash scripts/test-deps.sh` (as root), which "
            "installs Debian's kamailio, kamailio-utils-modules, kamailio-extra-modules and "
            "sip-tester; `make test` runs it first"
        )
    return path


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port free for UDP and TCP on 127.0.0.1."""
    while True:
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        other = socket.SOCK_STREAM if kind == socket.SOCK_DGRAM else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, other) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


def udp_bound(port: int) -> bool:
    """Whether something listens on UDP 127.0.0.1:port (read from /proc, binding nothing)."""
    wanted = f"0100007F:{port:04X}"
    with open("/proc/net/udp") as table:
        return any(line.split()[1] == wanted for line in list(table)[1:])


def wait_until(test: Any, what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not test():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def stop(process: subprocess.Popen[Any]) -> None:
    """Stop one process we started, by its PID."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def hospital_for_sip(root: Path, phones: dict[str, int]) -> Path:
    """The hospital deployment with every target's URI a phone on 127.0.0.1 and the port
    `phones` gives, plus a `voicemail` target (the voicemail server the proxy rings for a
    voicemail decision)."""
    copy = copy_hospital(root)
    path = copy / "deployment.yaml"
    text = path.read_text()
    text = re.sub(
        r"uri: sip:([a-z-]+)@mercy\.example",
        lambda m: f"uri: {phone_uri(TARGETS[m.group(1)], phones)}",
        text,
    )
    # the offshore center is an external number, dialed through the carrier's trunk: here the
    # trunk is a phone of its own, which takes the number as its user part
    carrier = "uri: 'sip:{number}@gateway.mercy.example;transport=tls'"
    assert carrier in text
    offshore = phones["offshore-center"]
    text = text.replace(carrier, f"uri: 'sip:{{number}}@127.0.0.1:{offshore}'")
    text = text.replace(
        "targets:\n", f"targets:\n  voicemail:\n    uri: {phone_uri('voicemail', phones)}\n", 1
    )
    path.write_text(text)
    return copy


def phone_uri(name: str, phones: dict[str, int]) -> str:
    return f"sip:{name}@127.0.0.1:{phones[name]}"


@dataclass
class Engine:
    url: str
    process: subprocess.Popen[str]
    log: Path
    key: str

    def get(self, path: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return httpx.get(f"{self.url}{path}", headers=headers, timeout=5)

    def call(self, call_id: str) -> dict[str, Any]:
        response = self.get(f"/v1/calls/{call_id}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found


@contextmanager
def engine(deployment: Path, work: Path, now: str, key: str) -> Iterator[Engine]:
    """The engine serving `deployment` on a free port, as if it were `now` at start, with
    `key` its one `telephony` API key (none: no keys)."""
    port = free_port(socket.SOCK_STREAM)
    log = work / f"engine-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                *SERVE,
                str(deployment),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--now",
                now,
                "--database",
                f"sqlite:///{work / f'e{port}.db'}",
            ],
            cwd=ROOT,
            env={
                **{name: value for name, value in os.environ.items() if name != "ROUTING_API_KEYS"},
                "ROUTING_DATA_DIR": str(work / "data"),
                **({"ROUTING_API_KEYS": f"telephony {key}"} if key else {}),
            },
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the engine did not start: {log.read_text()}")
            try:
                return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, "the engine", 40)
        yield Engine(url, process, log, key)
    finally:
        stop(process)


@dataclass
class Proxy:
    port: int
    process: subprocess.Popen[str]
    log: Path


@contextmanager
def kamailio(work: Path, engine_url: str, key: str, fallback_uri: str) -> Iterator[Proxy]:
    """Kamailio with the shipped configuration; only its addresses (and the engine's key) are
    set (-A)."""
    binary = need("kamailio")
    for module in ("http_client", "jansson", "rtjson"):
        if not list(Path("/usr/lib").glob(f"*/kamailio/modules/{module}.so")):
            raise AssertionError(
                f"Kamailio's {module} module is not installed: run `bash scripts/test-deps.sh`"
            )
    port = free_port()
    run = work / f"kamailio-{port}"
    run.mkdir()
    log = run / "log"
    defines = {
        "LISTEN": f"udp:127.0.0.1:{port}",
        "ENGINE_URL": f'"{engine_url}"',
        "ENGINE_KEY": f'"{key}"',
        "FALLBACK_URI": f'"{fallback_uri}"',
    }
    command = [binary, "-f", str(KAMAILIO_CFG), "-DD", "-E", "-Y", str(run), "-w", str(run)]
    for name, value in defines.items():
        command += ["-A", f"{name}={value}"]
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, text=True)
    try:

        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"kamailio did not start: {log.read_text()}")
            return udp_bound(port)

        wait_until(up, "kamailio")
        yield Proxy(port, process, log)
    finally:
        stop(process)


@dataclass
class Sipp:
    """One SIPp user agent: a caller, or a phone (a target) playing a scenario."""

    name: str
    scenario: str
    port: int
    process: subprocess.Popen[str]
    messages: Path
    output: Path

    def finish(self, seconds: float = 60) -> int:
        try:
            return self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            stop(self.process)
            raise AssertionError(f"{self.name} ({self.scenario}) did not finish") from None

    def log(self) -> str:
        return self.messages.read_text() if self.messages.exists() else ""

    def invites(self) -> list[str]:
        """The INVITEs this user agent received, each as its text."""
        return [
            block
            for block in re.split(r"\n-{5,}.*\n", self.log())
            if re.search(r"^INVITE sip:", block, re.M)
        ]


def sipp(work: Path, name: str, scenario: str, port: int, *args: str, calls: int = 1) -> Sipp:
    binary = need("sipp")
    messages = work / f"{name}-{port}.messages"
    output = work / f"{name}-{port}.out"
    command = [
        binary,
        *args,
        "-sf",
        str(SIPP_DIR / f"{scenario}.xml"),
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-mp",
        str(free_port()),
        "-m",
        str(calls),
        "-nostdin",
        "-timeout",
        "60s",
        "-timeout_error",
        "-trace_msg",
        "-message_file",
        str(messages),
        "-trace_err",
        "-error_file",
        str(work / f"{name}-{port}.errors"),
    ]
    with output.open("w") as out:
        process = subprocess.Popen(
            command,
            cwd=work,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    return Sipp(name, scenario, port, process, messages, output)


@contextmanager
def phones(work: Path, ports: dict[str, int], plays: dict[str, str]) -> Iterator[dict[str, Sipp]]:
    """A SIPp phone for each target in `plays` (its scenario: answer, no-answer, busy) on its
    port; the others are not there. Stopped (by PID) on leaving."""
    started = {name: sipp(work, name, scenario, ports[name]) for name, scenario in plays.items()}
    try:
        for phone in started.values():
            wait_until(lambda phone=phone: _listening(phone), f"the phone {phone.name}")
        yield started
    finally:
        for phone in started.values():
            stop(phone.process)


def _listening(phone: Sipp) -> bool:
    if phone.process.poll() is not None:
        raise AssertionError(f"SIPp {phone.name} stopped: {phone.output.read_text()}")
    return udp_bound(phone.port)


def call(work: Path, proxy: Proxy, call_id: str, caller: str, dialed: str) -> Sipp:
    """A SIPp caller dialing `dialed` from `caller` through the proxy, Call-ID `call_id`."""
    return sipp(
        work,
        f"caller-{call_id}",
        "caller",
        free_port(),
        f"127.0.0.1:{proxy.port}",
        "-s",
        dialed,
        "-set",
        "caller",
        caller,
        "-cid_str",
        call_id,
    )
