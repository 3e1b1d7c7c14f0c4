"""Regenerate routing_engine/data/nanp_area_codes.json from the phonenumbers package.

phonenumbers' geocoder and time-zone data cost about 100 MiB per process, so the engine never
loads them at run time: this script derives, once, a small table of North American area codes
(NPA) -> region (ISO 3166-2, e.g. US-NY), time zone and number type, and the engine ships it.

    .venv/bin/python scripts/gen_area_codes.py [OUT]   # or: make area-codes

Run it after upgrading phonenumbers; a test checks the shipped table against the installed
phonenumbers (the state of every area code it knows).
"""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

import phonenumbers
from phonenumbers import PhoneNumberType, geodata, timezone, tzdata

OUT = Path(__file__).resolve().parent.parent / "routing_engine" / "data" / "nanp_area_codes.json"

US_STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC",
    "Washington D.C.": "DC", "Florida": "FL", "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID",
    "Illinois": "IL", "Indiana": "IN", "Iowa": "IA", "Kansas": "KS", "Kentucky": "KY",
    "Louisiana": "LA", "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA", "Michigan": "MI",
    "Minnesota": "MN", "Mississippi": "MS", "Missouri": "MO", "Montana": "MT", "Nebraska": "NE",
    "Nevada": "NV", "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM",
    "New York": "NY", "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK",
    "Oregon": "OR", "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC",
    "South Dakota": "SD", "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT",
    "Virginia": "VA", "Washington": "WA", "Washington State": "WA", "West Virginia": "WV",
    "Wisconsin": "WI", "Wyoming": "WY",
}  # fmt: skip
CA_PROVINCES = {
    "Alberta": "AB", "British Columbia": "BC", "British Colombia": "BC", "Manitoba": "MB",
    "New Brunswick": "NB", "Newfoundland and Labrador": "NL", "Newfoundland": "NL",
    "Nova Scotia": "NS", "Ontario": "ON", "Prince Edward Island": "PE", "Quebec": "QC",
    "Saskatchewan": "SK", "Northwest Territories": "NT", "Nunavut": "NU", "Yukon": "YT",
}  # fmt: skip
US_CODES = set(US_STATES.values())
CA_CODES = set(CA_PROVINCES.values())


def region_of(description: str) -> str | None:
    """'New York, NY' -> US-NY; 'California' -> US-CA; 'Ontario' -> CA-ON; else None."""
    last = description.split(", ")[-1].strip()
    for names, codes, country in ((US_STATES, US_CODES, "US"), (CA_PROVINCES, CA_CODES, "CA")):
        if last in codes:
            return f"{country}-{last}"
        if last in names:
            return f"{country}-{names[last]}"
    return None


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else OUT
    votes: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for prefix, descriptions in geodata.GEOCODE_DATA.items():
        if prefix.startswith("1") and len(prefix) >= 4 and descriptions and "en" in descriptions:
            region = region_of(descriptions["en"])
            if region is not None:
                votes[prefix[1:4]][region] += 1 if len(prefix) > 4 else 1000
    zone_votes: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for prefix, zones in tzdata.TIMEZONE_DATA.items():
        if prefix.startswith("1") and len(prefix) >= 4 and len(zones) == 1:
            zone_votes[prefix[1:4]][zones[0]] += 1
    table: dict[str, dict[str, str]] = {}
    for npa in range(200, 1000):
        code = str(npa)
        sample = phonenumbers.parse(f"+1{code}2345678")
        if phonenumbers.number_type(sample) == PhoneNumberType.TOLL_FREE:
            table[code] = {"type": "toll-free"}
            continue
        if code not in votes:
            country = phonenumbers.region_code_for_number(sample)
            if country and country not in ("US", "CA"):
                table[code] = {"type": "nanp", "country": country}
            continue
        region = votes[code].most_common(1)[0][0]
        zones = timezone.time_zones_for_geographical_number(sample)
        zones = [zone for zone in zones if zone != "Etc/Unknown"]
        entry = {"type": "geographic", "country": region[:2], "region": region}
        if zone_votes[code]:  # the zone most of the area code's exchanges are in
            entry["timezone"] = zone_votes[code].most_common(1)[0][0]
        elif zones:
            entry["timezone"] = zones[0]
        table[code] = entry
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"phonenumbers": phonenumbers.__version__, "area_codes": table}
    out.write_text(json.dumps(payload, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {out.name}: {len(table)} area codes (phonenumbers {phonenumbers.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
