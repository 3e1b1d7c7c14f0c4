"""A decision as a FreeSWITCH mod_httapi document: `<document type="xml/freeswitch-httapi">`
with `<params>` (mirrored back by FreeSWITCH on its next request: where the call stands),
`<variables>` (the channel's: the fallback the dialplan rings if the engine stops answering)
and `<work>` (what to do: `<speak>`, `<execute application="bridge">`, `<hangup>`, ...), as
mod_httapi's documentation gives the tags. Built with xml.etree, so every value is escaped.

Holds no routing logic: each action becomes the tags that perform it (ARCHITECTURE.md, "Where
changes go", "A new telephony adapter")."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

DOCUMENT_TYPE = "xml/freeswitch-httapi"
DIGITS_PARAM = "routing_digits"  # where httapi puts the digits a menu read


@dataclass(frozen=True, slots=True)
class Settings:
    """How FreeSWITCH reaches targets and speaks prompts (its environment, read per request:
    see `docs/telephony.md`, "FreeSWITCH")."""

    profile: str = "external"  # the Sofia profile SIP targets are dialed through
    gateway: str = "trunk"  # the Sofia gateway bare numbers are dialed through
    tts_engine: str = "flite"
    tts_voice: str = "kal"
    recordings: str = "/var/lib/freeswitch/recordings/routing"

    @classmethod
    def from_env(cls) -> Settings:
        """The settings the environment gives (ROUTING_FREESWITCH_PROFILE, _GATEWAY,
        _TTS_ENGINE, _TTS_VOICE, _RECORDINGS), the defaults for the rest."""
        given = {
            name: os.environ.get(f"ROUTING_FREESWITCH_{name.upper()}", "")
            for name in ("profile", "gateway", "tts_engine", "tts_voice", "recordings")
        }
        return cls(**{name: value for name, value in given.items() if value})


def leg(target: dict[str, Any], settings: Settings, headers: dict[str, str]) -> str:
    """One target as a FreeSWITCH dial string: a SIP URI through the Sofia profile, a bare
    number through the gateway; `headers` as the leg's `sip_h_` variables (a value holding
    a delimiter of the dial string is left out rather than cut)."""
    uri = str(target["uri"])
    scheme, _, rest = uri.partition(":")
    if scheme in ("sip", "sips") and rest:
        dial = f"sofia/{settings.profile}/{rest}"
    else:
        dial = f"sofia/gateway/{settings.gateway}/{uri}"
    variables = [
        f"sip_h_{name}={value}"
        for name, value in headers.items()
        if value and not any(c in value for c in ",[]{}")
    ]
    return (f"[{','.join(variables)}]" if variables else "") + dial


def bridge_data(action: dict[str, Any], settings: Settings, headers: dict[str, str]) -> str:
    """A ring action as the `bridge` application's data: the timeout, then its targets (all at
    once, `,`, for a simultaneous ring)."""
    timeout = max(1, math.ceil(float(action["timeout_s"])))
    legs = ",".join(leg(t, settings, headers) for t in action["targets"])
    return f"{{originate_timeout={timeout},ignore_early_media=true}}{legs}"


def fallback_bridge(decision: dict[str, Any], settings: Settings) -> str:
    """The call's latest fallback as `bridge` data, for the dialplan after httapi."""
    for action in decision.get("fallback", {}).get("actions", []):
        if action.get("type") == "ring" and action.get("targets"):
            return bridge_data(action, settings, {})
    return ""


def _speak(work: Element, settings: Settings, text: str) -> Element:
    return SubElement(
        work, "speak", engine=settings.tts_engine, voice=settings.tts_voice, text=text
    )


def _menu(work: Element, settings: Settings, action: dict[str, Any]) -> None:
    speak = _speak(work, settings, str(action["prompt"]))
    speak.set("name", DIGITS_PARAM)
    speak.set("input-timeout", str(int(float(action["timeout_s"]) * 1000)))
    speak.set("digit-timeout", "3000")
    most = max(1, int(action.get("max_digits") or 1))
    if most == 1:
        SubElement(speak, "bind").text = "~[0-9*#]"
        return
    SubElement(speak, "bind").text = f"~[0-9*]{{{most}}}"
    SubElement(speak, "bind", strip="#").text = f"~[0-9*]{{1,{most - 1}}}#"


def document(
    decision: dict[str, Any], call_id: str, settings: Settings, link_base: str
) -> tuple[bytes, str]:
    """The httapi document performing `decision`, and what the call then waits for (`ring`,
    `menu`, `voicemail`, `queue`, or `done`), which FreeSWITCH sends back as `routing_wait`."""
    root = Element("document", type=DOCUMENT_TYPE)
    params = SubElement(root, "params")
    variables = SubElement(root, "variables")
    work = SubElement(root, "work")
    awaits = bool(decision.get("await"))
    wait = "done"
    for action in decision.get("actions", []):
        kind = action.get("type")
        if kind == "say":
            _speak(work, settings, str(action["text"]))
        elif kind == "ring":
            link = str(action.get("disposition_url") or "")
            headers = {
                "X-Routing-Disposition": link_base + link if link.startswith("/") else link,
                "X-Routing-Reports": " ".join(action.get("reports") or ()),
            }
            data = bridge_data(action, settings, headers)
            SubElement(work, "execute", application="bridge", data=data)
            if awaits:
                SubElement(work, "getVar", name="originate_disposition")
                wait = "ring"
        elif kind == "menu":
            _menu(work, settings, action)
            wait = "menu"
        elif kind == "voicemail":
            _speak(work, settings, str(action["prompt"]))
            path = f"{settings.recordings}/{call_id}.wav"
            limit = max(1, math.ceil(float(action["max_length_s"])))
            SubElement(work, "execute", application="record", data=f"{path} {limit}")
            SubElement(params, "routing_recording").text = path
            wait = "voicemail"
        elif kind == "queue":
            queue = (action.get("queue") or {}).get("name", "")
            SubElement(work, "execute", application="callcenter", data=str(queue))
            SubElement(work, "getVar", name="cc_cause")
            wait = "queue"
    if wait == "done":  # nothing left for FreeSWITCH to do: the call is over for the caller
        SubElement(work, "hangup", cause="NORMAL_CLEARING")
    SubElement(params, "routing_seq").text = str(decision["seq"])
    SubElement(params, "routing_wait").text = wait
    reason = decision.get("fallback_reason")
    if reason:
        SubElement(params, "routing_fallback_reason").text = str(reason)
        log = Element("log", level="WARNING")
        log.text = f"routing engine answered its fallback: {reason}"
        work.insert(0, log)
    SubElement(variables, "continue_on_fail").text = "true"  # a failed bridge is reported
    fallback = fallback_bridge(decision, settings)
    if fallback:
        SubElement(variables, "routing_fallback").text = fallback
    return _xml(root), wait


def hangup_document(wait: str = "done") -> bytes:
    """A document that only hangs up (the call needs nothing more)."""
    root = Element("document", type=DOCUMENT_TYPE)
    SubElement(SubElement(root, "params"), "routing_wait").text = wait
    SubElement(SubElement(root, "work"), "hangup", cause="NORMAL_CLEARING")
    return _xml(root)


def _xml(root: Element) -> bytes:
    text: bytes = tostring(root, encoding="utf-8", xml_declaration=True)
    return text
