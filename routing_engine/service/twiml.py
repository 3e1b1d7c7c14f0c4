"""Decisions as TwiML, built with the official `twilio` helper library (never hand-written
XML): a ring becomes `<Dial timeout action>` with a `<Number>` or `<Sip>` per target, a menu
`<Gather input="dtmf" numDigits action>` around its prompt, a say `<Say>`, a voicemail its
prompt then `<Record maxLength action>`, a hangup `<Hangup>`. Each verb that waits reports
back to the action URL `Links` makes for it, carrying the decision's `seq`, so a retried
callback is the same event. The translation only: what to do is the engine's decision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

MIN_DIAL_S, MAX_DIAL_S = 5, 600  # what `<Dial timeout>` takes
MAX_RECORD_S = 14_400  # `<Record maxLength>`: four hours at most
WHISPER_WAIT_S = 5  # how long the agent's whisper waits for a digit before connecting
DISPOSITION_HEADER = "X-Disposition-Url"  # how a SIP target gets the disposition link


@dataclass(frozen=True, slots=True)
class Links:
    """The adapter's action URLs: absolute under `base` (the public URL Twilio requests,
    behind a proxy too), else paths Twilio resolves against the URL it requested."""

    base: str = ""

    def url(self, path: str, **query: str | int) -> str:
        return f"{self.base}/v1/twilio/{path}" + (f"?{urlencode(query)}" if query else "")


def _seconds(value: float, low: int, high: int) -> int:
    return max(low, min(high, round(value)))


def _spoken(name: str) -> str:
    return name.replace("-", " ").replace("_", " ")


def reports_of(action: dict[str, Any]) -> list[str]:
    """The outcomes the connected agent may report, in the order their digits go (1, 2, ...)."""
    reports = action.get("reports")
    return [str(name) for name in reports] if isinstance(reports, list) else []


def _target(dial: Dial, target: dict[str, Any], whisper: str | None, link: str | None) -> None:
    """One target as a `<Sip>` (a SIP URI, with the disposition link as a SIP header) or a
    `<Number>` (anything else, an E.164 number); `whisper` is the agent's leg's TwiML."""
    uri = str(target["uri"])
    extra: dict[str, str] = {} if whisper is None else {"url": whisper, "method": "POST"}
    if uri.startswith(("sip:", "sips:")):
        if link:
            joiner = "&" if "?" in uri else "?"
            uri = f"{uri}{joiner}{DISPOSITION_HEADER}={quote(link, safe='')}"
        dial.sip(uri, **extra)
    else:
        dial.number(uri, **extra)


def _ring(
    response: VoiceResponse,
    action: dict[str, Any],
    decision: dict[str, Any],
    links: Links,
    last: bool,
) -> None:
    """A ring as one `<Dial>`: its targets all at once, or in order (`sequential`). It reports
    to the dial action when the decision waits for it; a fallback's last ring reports there
    too, marked, so the call's end is seen as the fallback's."""
    seq, reason = decision["seq"], decision.get("fallback_reason")
    attributes: dict[str, Any] = {
        "timeout": _seconds(float(action.get("timeout_s", 30)), MIN_DIAL_S, MAX_DIAL_S)
    }
    if reason:
        if last:
            attributes["action"] = links.url("dial", seq=seq, fallback=reason)
    elif decision["await"]:
        attributes["action"] = links.url("dial", seq=seq)
    targets = action.get("targets") or []
    if action.get("strategy") == "sequential" and len(targets) > 1:
        attributes["sequential"] = True
    reports = reports_of(action) if not reason else []
    whisper = None
    if reports:  # the agent hears it before being put through; the caller hears ringing
        whisper = links.url("whisper", call=decision["call_id"], seq=seq, reports=",".join(reports))
        attributes["answer_on_bridge"] = True
    dial = response.dial(**attributes)
    link = action.get("disposition_url")
    if isinstance(link, str) and link.startswith("/"):  # a path: under the public URL
        link = links.base + link
    for target in targets:
        _target(dial, target, whisper, link)


def _menu(response: VoiceResponse, action: dict[str, Any], seq: int, links: Links) -> None:
    """A menu: its prompt inside a `<Gather>` of DTMF digits, which reports silence too."""
    gather = response.gather(
        input="dtmf",
        num_digits=int(action.get("max_digits", 1)),
        timeout=_seconds(float(action.get("timeout_s", 5)), 1, 60),
        action=links.url("gather", seq=seq),
        action_on_empty_result=True,
    )
    gather.say(str(action.get("prompt", "")))


def _voicemail(response: VoiceResponse, action: dict[str, Any], seq: int, links: Links) -> None:
    prompt = str(action.get("prompt", ""))
    if prompt:
        response.say(prompt)
    response.record(
        action=links.url("record", seq=seq),
        max_length=_seconds(float(action.get("max_length_s", 120)), 1, MAX_RECORD_S),
        play_beep=True,
    )
    response.hangup()  # a silent caller: Twilio skips the action and goes on to here


def twiml(decision: dict[str, Any], links: Links) -> str:
    """The decision as a TwiML document. A decision that leaves nothing for Twilio to report
    (the call ended, or connected and waiting for the agent's outcome) ends with `<Hangup>`."""
    response = VoiceResponse()
    actions = decision.get("actions") or []
    rings = [i for i, a in enumerate(actions) if a.get("type") == "ring"]
    waits = False
    for index, action in enumerate(actions):
        match action.get("type"):
            case "ring":
                _ring(response, action, decision, links, index == rings[-1])
                waits = True
            case "queue" if action.get("queue"):  # a queue with its own line: rung like one
                ring = {"targets": [action["queue"]], "timeout_s": action.get("max_wait_s", 30)}
                _ring(response, ring, decision, links, True)
                waits = True
            case "menu":
                _menu(response, action, decision["seq"], links)
                waits = True
            case "say":
                response.say(str(action.get("text", "")))
            case "voicemail":
                _voicemail(response, action, decision["seq"], links)
                waits = True
            case "hangup":
                response.hangup()
                waits = True
    if not waits:
        response.hangup()
    return str(response)


def whisper(flow: str | None, reports: list[str], outcome_url: str) -> str:
    """What the agent hears on answering, before the caller is put through: the outcomes by
    digit, within a `<Gather>`; no digit, and the two are connected."""
    choices = ", ".join(f"press {i} for {_spoken(name)}" for i, name in enumerate(reports, 1))
    about = f"A call for {_spoken(flow)}." if flow else "A call."
    response = VoiceResponse()
    gather: Gather = response.gather(
        input="dtmf", num_digits=1, timeout=WHISPER_WAIT_S, action=outcome_url
    )
    gather.say(f"{about} To report its outcome now, {choices}. Or hold to talk to the caller.")
    return str(response)


def said(text: str) -> str:
    """A document that only says `text` (empty: says nothing), then returns to its call."""
    response = VoiceResponse()
    if text:
        response.say(text)
    return str(response)


def hangup() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)
