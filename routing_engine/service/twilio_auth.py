"""How the Twilio webhook knows a request is Twilio's: the account's auth token, and the
`X-Twilio-Signature` Twilio puts on every request, checked with the helper library's
`RequestValidator` against the URL Twilio requested and the form it sent. The form
(application/x-www-form-urlencoded) is read within a size and field-count bound first.

The token comes from $ROUTING_TWILIO_AUTH_TOKEN, else the file $ROUTING_TWILIO_AUTH_TOKEN_FILE
names. Without one the webhook refuses every request (503): it never serves what it cannot
check, and Twilio then plays the number's fallback URL. $ROUTING_TWILIO_URL is the public
URL Twilio requests (e.g. `https://routing.mercy.example`), needed where a proxy or TLS
terminator stands in front: a signature covers the URL as Twilio saw it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from twilio.request_validator import RequestValidator

from routing_engine.service.http import Refusal, raw_body
from routing_engine.service.twiml import Links

TOKEN_ENV = "ROUTING_TWILIO_AUTH_TOKEN"
TOKEN_FILE_ENV = "ROUTING_TWILIO_AUTH_TOKEN_FILE"
URL_ENV = "ROUTING_TWILIO_URL"
SIGNATURE = "x-twilio-signature"
MAX_FORM_BYTES = 16 * 1024  # Twilio's voice requests carry some thirty short fields
MAX_FIELDS = 100
FORM = "application/x-www-form-urlencoded"


class TwilioConfigError(ValueError):
    """A Twilio setting that cannot be used; the message names it."""


@dataclass(frozen=True, slots=True)
class TwilioSettings:
    """The account's auth token (None: the webhook is off) and the public base URL ('' when
    requests reach the service at the URL Twilio requested)."""

    token: str | None = None
    base: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TwilioSettings:
        env = os.environ if env is None else env
        token = env.get(TOKEN_ENV, "").strip() or None
        file = env.get(TOKEN_FILE_ENV, "").strip()
        if token is None and file:
            try:
                token = Path(file).read_text(encoding="utf-8").strip() or None
            except OSError as error:
                raise TwilioConfigError(f"${TOKEN_FILE_ENV}: cannot read {file}: {error}") from None
        base = env.get(URL_ENV, "").strip().rstrip("/")
        if base and urlsplit(base).scheme not in ("http", "https"):
            raise TwilioConfigError(f"${URL_ENV}: {base!r} is not an http(s) URL")
        return cls(token, base)

    @property
    def links(self) -> Links:
        return Links(self.base)

    def url_of(self, request: Request) -> str:
        """The URL Twilio requested (and signed): under the public base when configured."""
        if not self.base:
            return str(request.url)
        query = request.url.query
        return f"{self.base}{request.url.path}" + (f"?{query}" if query else "")


async def signed_form(request: Request, settings: TwilioSettings) -> dict[str, str]:
    """The request's form, once its signature is Twilio's: 503 without a token configured,
    415 for a body not form-encoded, 413 over `MAX_FORM_BYTES` (refused before it is
    parsed), 400 for one that does not parse, 403 for a missing or wrong signature."""
    if settings.token is None:
        raise Refusal(
            503,
            "twilio-not-configured",
            f"the Twilio webhook is off: set ${TOKEN_ENV} (or ${TOKEN_FILE_ENV}) to the "
            "account's auth token",
        )
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM:
        raise Refusal(415, "unsupported-media-type", f"send the body as {FORM}, as Twilio does")
    raw = await raw_body(request, MAX_FORM_BYTES)
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise Refusal(
            400, "malformed-form", f"the body is not a UTF-8 form of {MAX_FIELDS} fields at most"
        ) from None
    form = dict(pairs)
    signature = request.headers.get(SIGNATURE, "")
    validator = RequestValidator(settings.token)
    if not signature or not validator.validate(settings.url_of(request), form, signature):
        raise Refusal(
            403,
            "bad-signature",
            "the X-Twilio-Signature does not match this request for the configured auth token",
        )
    return form


def field(form: Mapping[str, str], name: str) -> str:
    """A field Twilio always sends; 422 naming it when it is missing."""
    value = form.get(name, "")
    if not value:
        raise Refusal(
            422,
            "bad-request",
            f"the form has no {name}",
            [{"field": name, "problem": "missing"}],
        )
    return value
