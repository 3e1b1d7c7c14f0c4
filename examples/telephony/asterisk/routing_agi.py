#!/usr/bin/env python3
"""Asterisk AGI script for the routing engine: Python 3 standard library only.

Asterisk runs it from the dialplan (`AGI(routing_agi.py)`, see extensions.conf). It speaks AGI
on stdin/stdout: it reads the `agi_*` environment block, posts the call to the engine
(`POST /v1/calls`), performs each decision with AGI commands (`EXEC Dial`, `GET DATA` for a
menu, `EXEC Playback` for a say, `RECORD FILE` for a voicemail) and reports what happened as
events (`POST /v1/calls/{id}/events`): `DIALSTATUS` as `dial.*`, the digits, the recording.
Every call and event carries `at`, Asterisk's own clock (`EPOCH`) when it happened; an answered
call's `dial.answered` is timed at the answer (`EPOCH` less `ANSWEREDTIME`).

It sets `ROUTING_STATUS` to `done` when it has finished the call. When the engine cannot be
reached for the call's first decision it sets `unreachable` and exits 1 (Asterisk then sets
`AGISTATUS` to `FAILURE`), and the dialplan's fallback branch rings the number's fallback.
When the engine cannot be reached later on, the script rings the call's latest `fallback`
itself. A decision the engine answered as its fallback sets `ROUTING_FALLBACK_REASON`.

`AGI(routing_agi.py,answered,CALL_ID,SEQ)` is the other mode: the Dial() option `U()` runs it on
the called channel the moment the agent answers (context `routing-answered`), so the engine
hears `dial.answered` while the call is on and the agent can report an outcome during it.

Settings (environment variables of the Asterisk process):
  ROUTING_ENGINE_URL      the engine, e.g. https://routing.example (default http://127.0.0.1:8000)
  ROUTING_API_KEY         a `telephony` key (sent as `Authorization: Bearer KEY`)
  ROUTING_TIMEOUT_S       how long to wait for the engine (default 2)
  ROUTING_PJSIP_ENDPOINT  the PJSIP endpoint SIP targets are dialed through (routing-targets)
  ROUTING_PJSIP_TRUNK     the PJSIP endpoint bare numbers are dialed through (trunk)
  ROUTING_PROMPTS         the sound folder of the prompts (routing); see README.md
  ROUTING_RECORDINGS      where voicemails are recorded (/var/spool/asterisk/routing)
  ROUTING_ANSWERED_SUB    the answered subroutine's context (routing-answered; empty: none)
  ROUTING_LEG_HANDLER     the pre-dial handler adding the agent's headers (routing-leg; empty: none)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import sys
import urllib.error
import urllib.request
from datetime import datetime, timezone
from typing import Any, TextIO

# DIALSTATUS (the Dial() application's documented values) as the engine's events
DIAL_EVENTS = {
    "ANSWER": "dial.answered",
    "NOANSWER": "dial.no-answer",
    "BUSY": "dial.busy",
    "CANCEL": "hangup",  # the caller hung up while it rang
}  # CHANUNAVAIL, CONGESTION, DONTCALL, TORTURE, INVALIDARGS: dial.failed
QUEUE_TIMEOUTS = {"TIMEOUT", "FULL", "JOINEMPTY", "LEAVEEMPTY", "JOINUNAVAIL", "LEAVEUNAVAIL"}
REPLY = re.compile(r"^(\d{3})[ -]result=(-?[0-9*#]*)(?: \((.*)\))?")


def setting(name: str, default: str) -> str:
    return os.environ.get(name, default)


class Hangup(Exception):
    """The caller's channel is gone: Asterisk answered a command with a hangup."""


class EngineDown(Exception):
    """The engine did not answer in time, or answered with an error."""


class Agi:
    """Asterisk's side of the conversation: the environment block, then one command line out
    and one reply line in (`200 result=...`), as the AGI documentation gives them."""

    def __init__(self, reader: TextIO, writer: TextIO):
        self.reader, self.writer = reader, writer
        self.env: dict[str, str] = {}
        for line in iter(reader.readline, ""):
            line = line.rstrip("\n")
            if not line:
                break
            name, _, value = line.partition(": ")
            self.env[name] = value

    def command(self, line: str) -> tuple[str, str]:
        """Send one command; its result and the text in parentheses. Hangup when the channel
        is gone (511, or the HANGUP notice Asterisk sends)."""
        self.writer.write(line + "\n")
        self.writer.flush()
        while True:
            reply = self.reader.readline()
            if not reply:
                raise Hangup()
            reply = reply.rstrip("\n")
            if reply == "HANGUP":
                continue  # the notice; the command's own reply follows
            if reply.startswith("520-"):  # usage text: read to its last line
                while reply and not reply.startswith("520 "):
                    reply = self.reader.readline().rstrip("\n")
                raise RuntimeError(f"Asterisk refused {line!r}")
            break
        match = REPLY.match(reply)
        if match is None or match.group(1) == "511":
            raise Hangup()
        if match.group(1) != "200":
            raise RuntimeError(f"Asterisk answered {reply!r} to {line!r}")
        return match.group(2), match.group(3) or ""

    def get(self, name: str) -> str:
        result, value = self.command(f"GET VARIABLE {name}")
        return value if result == "1" else ""

    def set(self, name: str, value: str) -> None:
        self.command(f"SET VARIABLE {name} {quoted(value)}")

    def exec(self, app: str, data: str) -> str:
        result, _ = self.command(f"EXEC {app} {quoted(data)}")
        if result == "-1":
            raise Hangup()
        return result

    def now(self) -> str:
        """Asterisk's clock (EPOCH), as ISO 8601 UTC."""
        return iso(float(self.get("EPOCH") or 0))


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def iso(epoch: float) -> str:
    if epoch <= 0:  # no EPOCH: let the engine time it on the call's clock
        return ""
    at = datetime.fromtimestamp(epoch, timezone.utc)  # noqa: UP017 (Python before 3.11 too)
    return at.isoformat().replace("+00:00", "Z")


def e164(number: str) -> str:
    """A number as E.164 (+ and digits), 'anonymous' for none."""
    digits = re.sub(r"[^0-9]", "", number)
    return "+" + digits if digits and number.strip().lower() not in ("unknown", "") else "anonymous"


class Engine:
    def __init__(self) -> None:
        self.url = setting("ROUTING_ENGINE_URL", "http://127.0.0.1:8000").rstrip("/")
        self.key = setting("ROUTING_API_KEY", "")
        self.timeout = float(setting("ROUTING_TIMEOUT_S", "2"))

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {name: value for name, value in body.items() if value != ""}
        headers = {"Content-Type": "application/json"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        request = urllib.request.Request(
            self.url + path, json.dumps(body).encode(), headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer: dict[str, Any] = json.load(response)
                return answer
        except (OSError, ValueError) as error:  # refused, timed out, 4xx/5xx, not JSON
            raise EngineDown(str(error)) from None

    def event(self, call_id: str, seq: int, kind: str, at: str, **data: str) -> dict[str, Any]:
        body = {"event_id": f"agi-{seq}", "seq": seq, "type": kind, "data": data, "at": at}
        return self.post(f"/v1/calls/{call_id}/events", body)

    def call(self, call_id: str) -> dict[str, Any]:
        """The call as the engine has it (its `seq`, `status` and what it awaits)."""
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        request = urllib.request.Request(f"{self.url}/v1/calls/{call_id}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer: dict[str, Any] = json.load(response)
                return answer
        except (OSError, ValueError) as error:
            raise EngineDown(str(error)) from None


def prompt(text: str) -> str:
    """The sound file a prompt is played from: one file per prompt text (see README.md)."""
    return f"{setting('ROUTING_PROMPTS', 'routing')}/{hashlib.sha1(text.encode()).hexdigest()[:12]}"


def dial_string(target: dict[str, Any]) -> str:
    uri = str(target["uri"])
    if uri.startswith(("sip:", "sips:")):
        return f"PJSIP/{setting('ROUTING_PJSIP_ENDPOINT', 'routing-targets')}/{uri}"
    return f"PJSIP/{uri}@{setting('ROUTING_PJSIP_TRUNK', 'trunk')}"


class Call:
    """One call: its latest decision, performed action by action."""

    def __init__(self, agi: Agi, engine: Engine, call_id: str):
        self.agi, self.engine, self.call_id = agi, engine, call_id
        self.fallback: dict[str, Any] | None = None

    def say(self, text: str) -> None:
        self.agi.command(f"VERBOSE {quoted('routing prompt ' + prompt(text) + ': ' + text)} 3")
        self.agi.exec("Playback", prompt(text))

    def ring(self, action: dict[str, Any], seq: int | None) -> tuple[str, str]:
        """Dial the action's targets; the dial event and when it happened."""
        legs = "&".join(dial_string(target) for target in action["targets"])
        options = ""
        answered = setting("ROUTING_ANSWERED_SUB", "routing-answered")
        if answered and seq is not None:
            options += f"U({answered}^{self.call_id}^{seq})"
        handler = setting("ROUTING_LEG_HANDLER", "routing-leg")
        link = action.get("disposition_url") or ""
        if handler and link:
            if link.startswith("/"):
                link = self.engine.url + link
            self.agi.set("_ROUTING_DISPOSITION_URL", link)
            self.agi.set("_ROUTING_REPORTS", " ".join(action.get("reports") or ()))
            options += f"b({handler}^s^1)"
        timeout = max(1, math.ceil(float(action["timeout_s"])))
        self.agi.exec("Dial", f"{legs},{timeout}" + (f",{options}" if options else ""))
        status = self.agi.get("DIALSTATUS")
        kind = DIAL_EVENTS.get(status, "dial.failed")
        if kind != "dial.answered":
            return kind, self.agi.now()
        ended = float(self.agi.get("EPOCH") or 0)
        talked = float(self.agi.get("ANSWEREDTIME") or 0)
        return kind, iso(ended - talked) if ended else ""

    def perform(self, decision: dict[str, Any]) -> tuple[str, dict[str, str], str] | None:
        """Do the decision's actions; the event that answers it (type, data, at), or None when
        the call needs nothing more from Asterisk."""
        reason = decision.get("fallback_reason")
        if reason:
            self.agi.set("ROUTING_FALLBACK_REASON", str(reason))
        awaits = decision.get("await") or []
        seq = decision.get("seq")
        for action in decision.get("actions") or []:
            kind = action["type"]
            if kind == "say":
                self.say(action["text"])
            elif kind == "ring":
                event, at = self.ring(action, seq if awaits else None)
                if awaits:
                    return event, {}, at
            elif kind == "menu":
                return self.menu(action)
            elif kind == "voicemail":
                return self.voicemail(action)
            elif kind == "queue":
                return self.queue(action)
        if "outcome" in awaits:
            # connected and over: the caller is gone, the agent reports the outcome (the link
            # or the API) in the call's wrap-up; a refusal (reported during the call) is fine
            self.report(decision, "hangup", {}, self.agi.now())
            return None
        if awaits:
            return "hangup", {}, self.agi.now()  # the bridged call has ended
        return None

    def menu(self, action: dict[str, Any]) -> tuple[str, dict[str, str], str]:
        text = action["prompt"]
        self.agi.command(f"VERBOSE {quoted('routing prompt ' + prompt(text) + ': ' + text)} 3")
        timeout_ms = int(float(action["timeout_s"]) * 1000)
        digits, _ = self.agi.command(f"GET DATA {prompt(text)} {timeout_ms} {action['max_digits']}")
        if digits == "-1":
            raise Hangup()
        if digits:
            return "digits", {"digits": digits}, self.agi.now()
        return "no-input", {}, self.agi.now()

    def voicemail(self, action: dict[str, Any]) -> tuple[str, dict[str, str], str]:
        self.say(action["prompt"])
        path = f"{setting('ROUTING_RECORDINGS', '/var/spool/asterisk/routing')}/{self.call_id}"
        limit_ms = int(float(action["max_length_s"]) * 1000)
        try:
            self.agi.command(f"RECORD FILE {path} wav # {limit_ms} 0 BEEP s=5")
            at = self.agi.now()
        except Hangup:  # hanging up ends a message: it is recorded all the same
            at = ""
        return "recording.done", {"recording": path + ".wav"}, at

    def queue(self, action: dict[str, Any]) -> tuple[str, dict[str, str], str]:
        queue = action.get("queue") or {}
        self.agi.exec("Queue", f"{queue.get('name', '')},,,,{math.ceil(action['max_wait_s'])}")
        if self.agi.get("QUEUESTATUS") in QUEUE_TIMEOUTS:
            return "queue.timeout", {}, self.agi.now()
        return "hangup", {}, self.agi.now()

    def run(self, decision: dict[str, Any]) -> str:
        """Perform decisions until the call needs no more (`done`); when the engine stops
        answering, the call's latest fallback is rung here (`done` too)."""
        while True:
            self.fallback = decision.get("fallback") or self.fallback
            try:
                event = self.perform(decision)
            except Hangup:
                self.report(decision, "hangup", {}, "")
                raise
            if event is None:
                return "done"
            kind, data, at = event
            try:
                decision = self.engine.event(self.call_id, decision["seq"], kind, at, **data)
            except EngineDown:
                if not self.fallback:
                    return "unreachable"
                self.agi.set("ROUTING_FALLBACK_REASON", "unreachable")
                self.perform({**self.fallback, "await": []})
                return "done"

    def report(self, decision: dict[str, Any], kind: str, data: dict[str, str], at: str) -> None:
        """Report `kind` (a hangup) for `decision`. An answered Dial() returns -1 when the call
        ends (the script meets a hung-up channel): the engine has moved on meanwhile (the U()
        subroutine reported the answer, perhaps the agent an outcome), so a refused report is
        sent again at the call's own seq, while the call still awaits it."""
        if kind not in (decision.get("await") or []):
            return
        with contextlib.suppress(EngineDown):
            self.engine.event(self.call_id, decision["seq"], kind, at, **data)
            return
        with contextlib.suppress(EngineDown):
            call = self.engine.call(self.call_id)
            if call.get("status") != "ended" and kind in (call.get("await") or []):
                self.engine.event(self.call_id, int(call["seq"]), kind, at, **data)


def answered(agi: Agi, engine: Engine, call_id: str, seq: str) -> int:
    """The U() subroutine: tell the engine the agent answered, as it happens."""
    try:
        engine.event(call_id, int(seq), "dial.answered", agi.now())
    except (EngineDown, ValueError):
        return 0  # the main script reports it again when the call ends
    return 0


def main(argv: list[str]) -> int:
    agi = Agi(sys.stdin, sys.stdout)
    engine = Engine()
    if argv[1:2] == ["answered"] and len(argv) >= 4:
        return answered(agi, engine, argv[2], argv[3])
    call_id = agi.env.get("agi_uniqueid", "")
    dialed = argv[1] if len(argv) > 1 and argv[1] else agi.env.get("agi_extension", "")
    call = {
        "call_id": call_id,
        "from": e164(agi.env.get("agi_callerid", "")),
        "to": e164(dialed),
        "at": agi.now(),
    }
    try:
        decision = engine.post("/v1/calls", call)
    except EngineDown as error:
        agi.command(f"VERBOSE {quoted('routing engine unreachable: ' + str(error))} 1")
        agi.set("ROUTING_STATUS", "unreachable")
        return 1
    try:
        status = Call(agi, engine, call_id).run(decision)
        agi.set("ROUTING_STATUS", status)
    except Hangup:
        return 0
    return 0 if status == "done" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
