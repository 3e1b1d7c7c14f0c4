"""jambonz's side of a decision: its actions as jambonz verbs (`dial`, `gather`, `say`,
`listen`, `hangup`), and jambonz's webhook payloads as the events they report. No routing
logic: what to do comes from the decision, what happened from jambonz (ARCHITECTURE.md,
"Where changes go", a new telephony adapter)."""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field

RECORDING_ENV = "ROUTING_JAMBONZ_RECORDING_URL"  # the websocket `listen` streams a message to
HOOKS = "/v1/jambonz"  # relative hooks: jambonz sends them to the call webhook's host
ENDED = frozenset({"completed", "failed", "busy", "no-answer"})  # a call's final statuses
_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
_SIP_NUMBER = re.compile(r"^sips?:(\+[1-9][0-9]{1,14})@")


class Hook(BaseModel):
    """What every jambonz webhook carries that the engine reads (the rest is passed over):
    the call, its parties and status, and what a verb's actionHook adds."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    call_sid: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@-]+$")
    parent_call_sid: str | None = Field(None, max_length=128, pattern=r"^[A-Za-z0-9._:@-]+$")
    caller: str = Field("", alias="from", max_length=256)
    to: str = Field("", max_length=256)
    call_status: str = Field("", max_length=32)
    dial_call_status: str = Field("", max_length=32)
    reason: str = Field("", max_length=64)
    digits: str = Field("", max_length=64)
    dtmf: str = Field("", max_length=64)
    customer_data: dict[str, Any] | None = Field(None, alias="customerData")

    @property
    def call_id(self) -> str:
        """The engine's call: the caller's leg (a confirm hook runs on the agent's leg)."""
        return self.parent_call_sid or self.call_sid


def e164(number: str) -> str | None:
    """A number as jambonz passes it, in E.164 when it is one (`12125550100` and
    `+12125550100` alike, or a SIP URI's user part); None otherwise."""
    match = _SIP_NUMBER.match(number)
    found = match.group(1) if match else number.strip()
    if found.isdigit():
        found = "+" + found
    return found if _E164.match(found) else None


def dial_event(hook: Hook, kind: str) -> str:
    """What a `dial` actionHook reports: the caller gone (`hangup`), or the dial's status;
    for a queue, anything but an answer is its timeout."""
    if hook.call_status in ENDED:
        return "hangup"
    status = hook.dial_call_status
    if status == "completed" or status == "in-progress":
        return "dial.answered"
    if kind == "queue":
        return "queue.timeout"
    return {"no-answer": "dial.no-answer", "busy": "dial.busy"}.get(status, "dial.failed")


def gather_event(hook: Hook) -> tuple[str, dict[str, str]]:
    """What a `gather` actionHook reports: the digits pressed, else no input."""
    if hook.call_status in ENDED:
        return "hangup", {}
    digits = hook.digits.strip()
    if digits and re.fullmatch(r"[0-9*#]{1,32}", digits):
        return "digits", {"digits": digits}
    return "no-input", {}


def hook_url(kind: str, seq: int) -> str:
    return f"{HOOKS}/action?{urlencode({'on': kind, 'seq': seq})}"


def target(uri: str) -> dict[str, str]:
    """A dial target: a number goes out through the carrier, anything else as a SIP URI."""
    number = None if uri.startswith("sip") else e164(uri.removeprefix("tel:"))
    if number is not None:
        return {"type": "phone", "number": number}
    return {"type": "sip", "sipUri": uri}


def _dial(action: dict[str, Any], decision: dict[str, Any], kind: str, base: str) -> dict[str, Any]:
    seq = decision["seq"]
    awaits = decision.get("await") or []
    headers = {"X-Call-Seq": str(seq)}
    link = str(action.get("disposition_url") or "")
    if link:  # the agent's link to report the outcome, absolute
        headers["X-Disposition-URL"] = base + link if link.startswith("/") else link
    if decision.get("fallback_reason"):
        headers["X-Fallback-Reason"] = str(decision["fallback_reason"])
    if kind == "queue":
        targets = [target(action["queue"]["uri"])]
        timeout = action.get("max_wait_s", 60)
    else:
        targets = [target(t["uri"]) for t in action.get("targets", [])]
        timeout = action.get("timeout_s", 30)
    verb: dict[str, Any] = {
        "verb": "dial",
        "target": targets,
        "timeout": max(1, round(float(timeout))),
        "answerOnBridge": True,
        "headers": headers,
    }
    if awaits:  # a fallback ends the call: nothing comes back
        verb["actionHook"] = hook_url(kind, seq)
        verb["confirmHook"] = f"{HOOKS}/answered?{urlencode({'seq': seq})}"
        verb.update(_keypad(action, seq))
    return verb


def _keypad(action: dict[str, Any], seq: int) -> dict[str, Any]:
    """What the connected agent may report, on the keypad: *1 for the first outcome the ring
    node `reports`, *2 for the second... (jambonz captures the agent's DTMF sent as SIP INFO
    during the call, and calls the dtmfHook). The report answers the decision after the
    answer: seq + 1."""
    reports = [str(r) for r in action.get("reports") or []][:9]
    if not reports:
        return {}
    query = urlencode({"seq": seq + 1, "reports": ",".join(reports)})
    return {
        "dtmfCapture": {"childCall": [f"*{n}" for n in range(1, len(reports) + 1)]},
        "dtmfHook": f"{HOOKS}/reported?{query}",
    }


def _gather(action: dict[str, Any], seq: int) -> dict[str, Any]:
    options = [str(o) for o in action.get("options", [])]
    most = int(action.get("max_digits") or 1)
    verb: dict[str, Any] = {
        "verb": "gather",
        "input": ["digits"],
        "timeout": max(1, round(float(action.get("timeout_s", 5)))),
        "say": {"text": action.get("prompt", "")},
        "actionHook": hook_url("gather", seq),
    }
    if options and all(len(o) == most for o in options):
        verb["numDigits"] = most
    else:
        verb.update(minDigits=1, maxDigits=most, finishOnKey="#")
    return verb


def _voicemail(action: dict[str, Any], decision: dict[str, Any]) -> list[dict[str, Any]]:
    """A message: the prompt, then jambonz's `listen` streams it to the recording websocket
    ($ROUTING_JAMBONZ_RECORDING_URL). Without one, jambonz cannot take a message: the caller
    hears the prompt and the call ends."""
    say = {"verb": "say", "text": action.get("prompt", "")}
    url = os.environ.get(RECORDING_ENV, "")
    if not url or not decision.get("await"):
        return [say, {"verb": "hangup"}]
    listen = {
        "verb": "listen",
        "url": url,
        "maxLength": max(1, round(float(action.get("max_length_s", 120)))),
        "playBeep": True,
        "finishOnKey": "#",
        "metadata": {"call_id": decision["call_id"], "board": action.get("board", "")},
        "actionHook": hook_url("recording", decision["seq"]),
    }
    return [say, listen]


def verbs(
    decision: dict[str, Any], hook: Hook | None = None, base: str = ""
) -> list[dict[str, Any]]:
    """A decision as the verbs jambonz runs, in order (`base`: this service's URL, for a
    disposition link given as a path). A fallback is tagged on the call (`tag`:
    `fallback_reason` in the call's customerData, which jambonz shows in later webhooks and
    its call records) and named in each dial's SIP headers."""
    out: list[dict[str, Any]] = []
    reason = decision.get("fallback_reason")
    if reason:
        data = dict(hook.customer_data or {}) if hook is not None else {}
        out.append({"verb": "tag", "data": {**data, "fallback_reason": str(reason)}})
    for action in decision.get("actions", []):
        match action.get("type"):
            case "ring":
                out.append(_dial(action, decision, "dial", base))
            case "queue" if (action.get("queue") or {}).get("uri"):
                out.append(_dial(action, decision, "queue", base))
            case "menu":
                out.append(_gather(action, decision["seq"]))
            case "say":
                out.append({"verb": "say", "text": action.get("text", "")})
            case "voicemail":
                out.extend(_voicemail(action, decision))
            case "hangup":
                out.append({"verb": "hangup"})
            case _:  # a ticket is the engine's own: nothing for jambonz to do
                pass
    if not decision.get("await") and (not out or out[-1]["verb"] not in ("hangup", "dial")):
        out.append({"verb": "hangup"})  # the call ends here
    return out
