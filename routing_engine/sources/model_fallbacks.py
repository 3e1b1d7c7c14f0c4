"""The format of fallbacks and entries (`sources/model.py` holds the documents that use them):
what a call gets when the engine cannot decide, the deployment's, a flow's or a line's, and an
entry's two forms, `NUMBER: FLOW` and `NUMBER: {flow: FLOW, fallback: {...}}`."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, GetJsonSchemaHandler
from pydantic_core import CoreSchema

from routing_engine.core.ir import Duration, DurationUnit
from routing_engine.sources.model_values import NAME_PATTERN, DurationText, Name, NameList, Spec


class FallbackSpec(Spec):
    """What a call gets when the engine cannot decide (an internal fault, the loop guard)."""

    ring: NameList = Field(default_factory=list)
    timeout: DurationText = Field(Duration(30, DurationUnit.SECONDS))
    say: str = ""


class EntrySpec(Spec):
    """A dialed number's flow, with its own fallback (the short form is `NUMBER: FLOW`)."""

    flow: Name = Field(description="the flow a call to this number enters")
    fallback: FallbackSpec | None = Field(
        None,
        description="what a call on this line gets when the engine cannot decide, unless the "
        "flow it is in has its own; without it, the deployment's",
    )


class _ShortOrLong:
    """An entry's schema: the flow's name alone, or the long form (`EntrySpec`)."""

    def __get_pydantic_json_schema__(
        self, core: CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return {
            "anyOf": [{"type": "string", "pattern": NAME_PATTERN}, handler(core)],
            "description": "the flow (`er`), or the flow with this line's own fallback "
            "(`{flow: er, fallback: {ring: er-nurse}}`)",
        }


EntryValue = Annotated[
    EntrySpec, BeforeValidator(lambda v: {"flow": v} if isinstance(v, str) else v), _ShortOrLong()
]
