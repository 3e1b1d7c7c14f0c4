"""Amazon Connect -> routing engine: an AWS Lambda handler for an "Invoke AWS Lambda function"
block. Standard library only (it runs as it is in AWS's Python runtime).

In: Connect's contact event. `Details.ContactData` gives the call (`ContactId`, the caller's
`CustomerEndpoint.Address`, the dialed `SystemEndpoint.Address`, the contact `Attributes`);
`Details.Parameters`, set in the flow block, say what happened:

- `event`: `call` for a new call (the default), else the event the flow reports:
  `dial.answered`, `dial.no-answer`, `dial.busy`, `dial.failed`, `digits`, `no-input`,
  `outcome`, `queue.timeout`, `recording.done`, `hangup`;
- `seq`: the `seq` the last answer gave (`$.External.seq`), else the contact attribute
  `routing_seq`; `digits` (`$.StoredCustomerInput`), `outcome`, `recording` with the event.

Out: a flat map of strings (all Connect takes), read in the flow as `$.External.NAME`:
`action` (`ring`, `menu`, `say`, `voicemail`, `queue`, `hangup`, `wait`), `say` (text to play
first), the ring's `target_number` (E.164, for "Transfer to phone number"), `target_uri`,
`target_name`, `targets`, `timeout_s`; the menu's `prompt`, `options`, `max_digits`; the
message's `prompt`, `max_length_s`, `board`; the queue's `queue_name`, `queue_number`,
`max_wait_s`; `seq`, `call_id`, `awaits`, `reports`, `disposition_url`, `fallback` (`true` or
`false`), `fallback_reason`, `fallback_number` (the call's line's fallback, to keep as a contact
attribute), and `engine` (`ok`, or `unreachable` / `refused` when the engine did not decide).

Configuration (environment variables): `ROUTING_ENGINE_URL` (e.g. https://routing.example),
`ROUTING_API_KEY` (a telephony key), `ROUTING_TIMEOUT_S` (default 3; Connect gives a Lambda 8 s
at most, so at most 6 is used), and the fallback used when the engine cannot be reached or
refuses: `ROUTING_FALLBACKS` (`DIALED=NUMBER` pairs, comma-separated: each line's own), else
`ROUTING_FALLBACK_NUMBER`. A contact attribute `routing_fallback_number` (kept from an earlier
answer's `fallback_number`) comes first. With no fallback known, the handler raises: the
block's Error branch then takes the call (wire it to the front desk).
"""

from __future__ import annotations

import json
import os
import re
import threading
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
SIP_NUMBER = re.compile(r"^sips?:(\+[1-9][0-9]{1,14})@")
MAX_TIMEOUT_S = 6.0  # Connect's limit is 8 s: leave room for the Lambda's own start and reply
EVENTS = frozenset(
    {
        "dial.answered",
        "dial.no-answer",
        "dial.busy",
        "dial.failed",
        "digits",
        "no-input",
        "outcome",
        "queue.timeout",
        "recording.done",
        "hangup",
    }
)


class EngineError(Exception):
    """The engine did not decide: unreachable, too slow, or it refused (`status`)."""

    def __init__(self, reason: str, status: int = 0, detail: str = ""):
        super().__init__(f"{reason} {status or ''} {detail}".strip())
        self.reason = reason
        self.status = status


def number_of(uri: str) -> str:
    """A target's number in E.164 (from `+1...`, `tel:+1...` or `sip:+1...@host`), or ''."""
    match = SIP_NUMBER.match(uri)
    found = match.group(1) if match else uri.removeprefix("tel:")
    return found if E164.match(found) else ""


def _timeout_s() -> float:
    try:
        wanted = float(os.environ.get("ROUTING_TIMEOUT_S", "3"))
    except ValueError:
        wanted = 3.0
    return min(max(wanted, 0.1), MAX_TIMEOUT_S)


def _post(path: str, body: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """POST `body` to the engine; its decision, or EngineError. The whole exchange is bounded
    by `timeout_s` (a socket timeout bounds each read only, so a slow drip is cut too)."""
    base = os.environ.get("ROUTING_ENGINE_URL", "").rstrip("/")
    if not base:
        raise EngineError("unreachable", detail="ROUTING_ENGINE_URL is not set")
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    key = os.environ.get("ROUTING_API_KEY", "")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    result: dict[str, Any] = {}

    def exchange() -> None:
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                result["decision"] = json.loads(response.read(1_000_000))
        except urllib.error.HTTPError as error:
            result["error"] = EngineError("refused", error.code, error.read(2000).decode())
        except (OSError, ValueError) as error:  # refused, reset, timed out, not JSON
            result["error"] = EngineError("unreachable", detail=str(error))

    worker = threading.Thread(target=exchange, daemon=True)
    worker.start()
    worker.join(timeout_s)
    if "decision" in result and isinstance(result["decision"], dict):
        return result["decision"]
    raise result.get("error") or EngineError("unreachable", detail=f"no answer in {timeout_s} s")


def _ask(event: dict[str, Any]) -> dict[str, Any]:
    """The engine's decision for the contact event."""
    details = event.get("Details") or {}
    contact = details.get("ContactData") or {}
    parameters = details.get("Parameters") or {}
    attributes = contact.get("Attributes") or {}
    call_id = str(contact.get("ContactId") or "")
    caller = str((contact.get("CustomerEndpoint") or {}).get("Address") or "")
    dialed = str((contact.get("SystemEndpoint") or {}).get("Address") or "")
    kind = str(parameters.get("event") or "call")
    timeout_s = _timeout_s()
    if kind == "call":
        who = caller if E164.match(caller) else "anonymous"
        return _post("/v1/calls", {"call_id": call_id, "from": who, "to": dialed}, timeout_s)
    if kind not in EVENTS:
        raise EngineError("refused", 422, f"unknown event {kind!r}")
    seq_text = str(parameters.get("seq") or attributes.get("routing_seq") or "")
    if not (seq_text.isascii() and seq_text.isdigit() and len(seq_text) <= 18):
        raise EngineError("refused", 422, "no seq: pass $.External.seq as the 'seq' parameter")
    data = {
        name: str(parameters[name])
        for name in ("digits", "outcome", "recording")
        if parameters.get(name)
    }
    body: dict[str, Any] = {
        "event_id": f"connect:{kind}:{seq_text}",
        "seq": int(seq_text),
        "type": kind,
        "data": data,
    }
    return _post(f"/v1/calls/{quote(call_id, safe='')}/events", body, timeout_s)


def attributes_of(decision: dict[str, Any]) -> dict[str, str]:
    """A decision as Connect's flat string attributes (the first action Connect performs,
    after any `say` text)."""
    out = {
        "action": "wait" if decision.get("await") else "hangup",
        "say": "",
        "seq": str(decision.get("seq", "")),
        "call_id": str(decision.get("call_id", "")),
        "awaits": ",".join(decision.get("await") or []),
        "fallback": "true" if decision.get("fallback_reason") else "false",
        "fallback_reason": str(decision.get("fallback_reason") or ""),
        "fallback_number": "",
        "engine": "ok",
    }
    for action in (decision.get("fallback") or {}).get("actions", []):
        numbers = [number_of(t.get("uri", "")) for t in action.get("targets", [])]
        if action.get("type") == "ring" and any(numbers):
            out["fallback_number"] = next(n for n in numbers if n)
            break
    says = []
    for action in decision.get("actions") or []:
        kind = action.get("type")
        if kind == "say":
            says.append(str(action.get("text", "")))
        elif kind in ("ring", "menu", "voicemail", "queue", "hangup"):
            out.update(_step(action))
            break
    out["say"] = " ".join(says)
    return out


def _step(action: dict[str, Any]) -> dict[str, str]:
    kind = str(action["type"])
    if kind == "ring":
        targets = action.get("targets") or [{}]
        numbers = [number_of(t.get("uri", "")) for t in targets]
        return {
            "action": "ring",
            "target_name": str(targets[0].get("name", "")),
            "target_uri": str(targets[0].get("uri", "")),
            "target_number": numbers[0],
            "targets": ",".join(
                n or str(t.get("uri", "")) for n, t in zip(numbers, targets, strict=True)
            ),
            "timeout_s": str(round(float(action.get("timeout_s", 30)))),
            "strategy": str(action.get("strategy", "")),
            "reports": ",".join(action.get("reports") or []),
            "disposition_url": _absolute(str(action.get("disposition_url") or "")),
        }
    if kind == "menu":
        return {
            "action": "menu",
            "prompt": str(action.get("prompt", "")),
            "options": ",".join(str(o) for o in action.get("options", [])),
            "max_digits": str(action.get("max_digits", 1)),
            "timeout_s": str(round(float(action.get("timeout_s", 5)))),
        }
    if kind == "voicemail":
        return {
            "action": "voicemail",
            "prompt": str(action.get("prompt", "")),
            "max_length_s": str(round(float(action.get("max_length_s", 120)))),
            "board": str(action.get("board", "")),
        }
    if kind == "queue":
        queue = action.get("queue") or {}
        return {
            "action": "queue",
            "queue_name": str(queue.get("name", "")),
            "queue_number": number_of(str(queue.get("uri", ""))),
            "max_wait_s": str(round(float(action.get("max_wait_s", 60)))),
        }
    return {"action": "hangup"}


def _absolute(link: str) -> str:
    """A link the engine gives as a path, on the engine's URL (the agent opens it)."""
    if link.startswith("/"):
        return os.environ.get("ROUTING_ENGINE_URL", "").rstrip("/") + link
    return link


def fallback_number(dialed: str, attributes: dict[str, Any]) -> str:
    """The number to send the call to when the engine does not decide: the call's own (kept
    as a contact attribute), else its line's, else the default; '' when none is known."""
    kept = str(attributes.get("routing_fallback_number") or "")
    if E164.match(kept):
        return kept
    for pair in os.environ.get("ROUTING_FALLBACKS", "").split(","):
        line, _, number = pair.partition("=")
        if line.strip() == dialed and E164.match(number.strip()):
            return number.strip()
    default = os.environ.get("ROUTING_FALLBACK_NUMBER", "").strip()
    return default if E164.match(default) else ""


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, str]:
    """The Lambda's entry point: Connect's contact event in, flat string attributes out."""
    contact = (event.get("Details") or {}).get("ContactData") or {}
    try:
        return attributes_of(_ask(event))
    except EngineError as error:
        dialed = str((contact.get("SystemEndpoint") or {}).get("Address") or "")
        number = fallback_number(dialed, contact.get("Attributes") or {})
        if not number:
            raise  # the block's Error branch takes the call
        return {
            "action": "ring",
            "say": "",
            "target_name": "fallback",
            "target_uri": f"tel:{number}",
            "target_number": number,
            "targets": number,
            "timeout_s": "30",
            "seq": "",
            "call_id": str(contact.get("ContactId") or ""),
            "awaits": "",
            "fallback": "true",
            "fallback_reason": error.reason,
            "fallback_number": number,
            "engine": error.reason,
            "engine_status": str(error.status or ""),
        }
