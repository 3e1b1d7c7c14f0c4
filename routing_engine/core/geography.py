"""Where a caller is: country, region (ISO 3166-2, e.g. US-NY), state and time zone.

North American numbers are looked up by area code in a small table shipped with the package
(generated from phonenumbers by scripts/gen_area_codes.py), so no process loads phonenumbers'
100 MiB geocoder. Other numbers are parsed and validated with phonenumbers itself. A region sent
by the telephony system wins over the number.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import phonenumbers

_NANP = re.compile(r"^\+1([2-9][0-9]{2})([2-9][0-9]{6})$")
_REGION = re.compile(r"^([A-Z]{2})(?:-([A-Z0-9]{1,3}))?$")

CALLER_TYPES = ("geographic", "toll-free", "nanp", "international", "unknown", "anonymous")


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerInfo:
    """What the engine knows of a caller. Conditions read it as `caller.*`: its fields, in this
    order, are the names they may use."""

    number: str
    region: str = ""  # ISO 3166-2, e.g. US-NY
    state: str = ""  # the subdivision part of the region, e.g. NY
    country: str = ""  # ISO 3166-1 alpha-2
    timezone: str = ""
    type: str  # one of CALLER_TYPES


@lru_cache(maxsize=1)
def area_codes() -> dict[str, dict[str, str]]:
    text = (
        resources.files("routing_engine.data").joinpath("nanp_area_codes.json").read_text("utf-8")
    )
    table: dict[str, dict[str, str]] = json.loads(text)["area_codes"]
    return table


def _with_region(info: CallerInfo, region: str) -> CallerInfo:
    match = _REGION.match(region.strip().upper())
    if match is None:
        return info
    country, subdivision = match.group(1), match.group(2) or ""
    full = f"{country}-{subdivision}" if subdivision else ""
    same_place = full and full == info.region
    return CallerInfo(
        number=info.number,
        region=full,
        state=subdivision,
        country=country,
        timezone=info.timezone if same_place else "",
        type=info.type,
    )


@lru_cache(maxsize=4096)
def caller_info(number: str, region: str = "") -> CallerInfo:
    """Classify a caller's number; `region` (e.g. "US-NY"), when the telephony system sends
    one, overrides what the number says."""
    info = _from_number(number)
    return _with_region(info, region) if region else info


def _from_number(number: str) -> CallerInfo:
    if number in ("", "anonymous"):
        return CallerInfo(number=number, type="anonymous")
    nanp = _NANP.match(number)
    if nanp is not None:
        entry = area_codes().get(nanp.group(1))
        if entry is None:
            return CallerInfo(number=number, type="unknown")
        region = entry.get("region", "")
        return CallerInfo(
            number=number,
            region=region,
            state=region.partition("-")[2],
            country=entry.get("country", ""),
            timezone=entry.get("timezone", ""),
            type=entry["type"],
        )
    if number.startswith("+1"):
        return CallerInfo(number=number, type="unknown")
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return CallerInfo(number=number, type="unknown")
    if not phonenumbers.is_valid_number(parsed):
        return CallerInfo(number=number, type="unknown")
    country = phonenumbers.region_code_for_number(parsed) or ""
    if phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.TOLL_FREE:
        return CallerInfo(number=number, country=country, type="toll-free")
    return CallerInfo(number=number, country=country, type="international")
