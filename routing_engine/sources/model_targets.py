"""The format of who is rung (`sources/model.py` holds the documents that use them): targets,
and the SIP trunks a target's number is dialed through (`core/trunks.py`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from routing_engine.sources.model_values import Name, Spec


class TargetSpec(Spec):
    kind: Literal["line", "queue", "external"] = "line"
    uri: str = Field(description="SIP URI or E.164 number", min_length=1)
    site: str = ""
    region: str = Field("", description="e.g. US-NY")
    skills: list[Name] = Field(default_factory=list)
    capacity: int = Field(1, ge=1, le=100000)
    available: bool = True
    trunk: Name | None = Field(
        None,
        description="the trunk (under `trunks`) a number `uri` is dialed through over SIP; "
        "without it, the deployment's `default_trunk`, else its only trunk",
    )


class TrunkSpec(Spec):
    """A SIP trunk or gateway that numbers are dialed through."""

    uri: str = Field(
        min_length=1,
        description="a SIP URI template: `{number}` stands for the E.164 number with its '+' "
        "(`{digits}`: without it), e.g. `sip:{number}@gateway.example;transport=tls`",
        examples=["sip:{number}@gateway.example;transport=tls"],
    )
