"""The disposition page's HTML: server-rendered, no script, one form with a button per allowed
outcome. Every value shown is escaped; the style sheet is a file of the package (the page's
Content-Security-Policy allows nothing else)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from fastapi.responses import HTMLResponse

from routing_engine.service.board import SECURITY_HEADERS

STYLE_PATH = "../disposition-assets/disposition.css"  # relative: works under a path prefix


@dataclass(frozen=True, slots=True)
class CallShown:
    """What the agent sees of the call: who called, which line they dialed, for which flow."""

    caller: str
    dialed: str
    flow: str
    description: str


def _outcome_label(outcome: str) -> str:
    """An outcome as a button says it: `needs-office` as "Needs office"."""
    words = outcome.replace("-", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def _call_facts(call: CallShown | None) -> str:
    if call is None:
        return ""
    line = escape(call.flow) + (f" ({escape(call.description)})" if call.description else "")
    return (
        '<dl class="call">'
        f'<dt>Caller</dt><dd id="caller">{escape(call.caller)}</dd>'
        f'<dt>Line dialed</dt><dd id="line">{escape(call.dialed)}</dd>'
        f'<dt>Office</dt><dd id="office">{line}</dd>'
        "</dl>"
    )


def page(
    status: int,
    title: str,
    message: str,
    call: CallShown | None = None,
    form: str = "",
) -> HTMLResponse:
    """A whole page: its title as the heading, a message (a status to assistive technology),
    the call's facts when known, and the form when the call waits for an outcome."""
    body = (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        f'<link rel="stylesheet" href="{STYLE_PATH}"></head>'
        f"<body><main><h1>{escape(title)}</h1>"
        f'<p id="message" role="status">{escape(message)}</p>'
        f"{_call_facts(call)}{form}</main></body></html>\n"
    )
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-store"}
    return HTMLResponse(body, status_code=status, headers=headers)


def outcome_form(action: str, token: str, outcomes: tuple[str, ...]) -> str:
    """The form: the signed token in a hidden field, posted to this server (same origin),
    one submit button per outcome."""
    buttons = "".join(
        f'<button type="submit" name="outcome" value="{escape(o)}">{escape(_outcome_label(o))}'
        "</button>"
        for o in outcomes
    )
    return (
        f'<form method="post" action="{escape(action)}">'
        "<fieldset><legend>How did the call end?</legend>"
        f'<input type="hidden" name="token" value="{escape(token)}">'
        f"{buttons}</fieldset></form>"
    )
