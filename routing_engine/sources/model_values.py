"""The value types of the flow-file format: durations, names, lists of names, and the base
of every spec (unknown fields are refused).

Values arrive as text (see `sources/raw.py`): durations are read by the core's one reading of
them, names are checked by pattern, and a single name stands for a list of one.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

from routing_engine.core.durations import DURATION_PATTERN, PARAM_REF, parse_duration
from routing_engine.core.ir import Duration
from routing_engine.core.outbound import network_text

DurationText = Annotated[
    Duration,
    BeforeValidator(parse_duration),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": f"({DURATION_PATTERN})|({PARAM_REF})",
            "description": "a duration: `2 rings`, `20s`, `15m` or `1h`",
            "examples": ["2 rings", "20s", "15m"],
        }
    ),
]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Name = Annotated[
    str, Field(pattern=NAME_PATTERN, description="a name: letters, digits, '-', '_', '.'")
]
# Where a module may pass a parameter instead of a name: `$office`.
NAME_OR_PARAM = r"^(\$[A-Za-z_][A-Za-z0-9_]{0,63}|[A-Za-z0-9][A-Za-z0-9_.-]{0,63})$"
NameOrParam = Annotated[
    str, Field(pattern=NAME_OR_PARAM, description="a name, or in a module a parameter: $name")
]
ParamName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
_NAME_SCHEMA = {"type": "string", "pattern": NAME_OR_PARAM}
NameList = Annotated[
    list[NameOrParam],
    BeforeValidator(lambda v: [v] if isinstance(v, str) else v),
    WithJsonSchema(
        {
            "anyOf": [_NAME_SCHEMA, {"type": "array", "items": _NAME_SCHEMA}],
            "description": "a name, or a list of names",
        }
    ),
]


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, arbitrary_types_allowed=True)


# A network webhooks may reach though it is internal (`allow_webhook_networks`).
NetworkText = Annotated[
    str,
    BeforeValidator(network_text),
    WithJsonSchema({
        "type": "string",
        "description": "a network webhooks may reach though it is internal (loopback, private, "
        "link-local or reserved addresses are refused otherwise): `10.20.0.0/16`, `fd00::/8`",
        "examples": ["10.20.0.0/16", "127.0.0.0/8"],
    }),
]  # fmt: skip
