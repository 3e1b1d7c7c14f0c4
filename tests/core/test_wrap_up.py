"""Wrap-up: the caller hangs up before the agent reports (the usual order at the hospital's
overflow center), and the report still walks the call on: the escalation is not lost."""

from __future__ import annotations

import re
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from routing_engine import EventRejected, LoadedDeployment, load_deployment
from routing_engine.core.calls import CallState, Status
from routing_engine.core.runtime import end_wrap_up

pytestmark = pytest.mark.telephony

HOSPITAL = Path(__file__).parents[2] / "examples" / "hospital"
CARDIOLOGY = "+12125550120"
CALLER = "+12125550123"
AT = "2026-11-24T10:00:00-05:00"  # a Tuesday morning: the office is open


@pytest.fixture(scope="module")
def hospital() -> LoadedDeployment:
    return load_deployment(HOSPITAL)


def _event(kind: str, seq: int, at: str, **data: str) -> dict[str, Any]:
    return {"event_id": f"{kind}-{seq}", "seq": seq, "type": kind, "data": data, "at": at}


def _apply(
    hospital: LoadedDeployment, state: CallState, event: dict[str, Any]
) -> tuple[CallState, dict[str, Any]]:
    new, decision = hospital.apply_event(state.to_json(), event)
    return CallState.from_json(new), decision


def _start(hospital: LoadedDeployment, call_id: str) -> CallState:
    call = {"call_id": call_id, "from": CALLER, "to": CARDIOLOGY, "at": AT}
    return CallState.from_json(hospital.start_call(call)[0])


def _answered(hospital: LoadedDeployment) -> tuple[CallState, dict[str, Any]]:
    """A cardiology call the office did not answer, answered at the overflow center."""
    state = _start(hospital, "w1")
    state, _ = _apply(hospital, state, _event("dial.no-answer", 1, "2026-11-24T10:00:12-05:00"))
    state, decision = _apply(
        hospital, state, _event("dial.answered", 2, "2026-11-24T10:00:20-05:00")
    )
    assert decision["await"] == ["outcome", "hangup"]
    return state, decision


def _hung_up(hospital: LoadedDeployment) -> tuple[CallState, dict[str, Any]]:
    state, _ = _answered(hospital)
    return _apply(hospital, state, _event("hangup", 3, "2026-11-24T10:04:00-05:00"))


def test_a_hangup_where_the_agent_reports_awaits_the_report(hospital: LoadedDeployment) -> None:
    state, decision = _hung_up(hospital)
    assert decision["actions"] == []
    assert decision["await"] == ["outcome"]
    assert state.status is Status.CONNECTED
    assert state.caller_gone_at == "2026-11-24T15:04:00Z"
    assert state.report_due == "2026-11-24T15:34:00Z"  # the default wrap_up: 30 minutes
    assert decision["trace"][-1] == (
        "cardiology/office.ring-overflow: caller hung up; awaiting the agent's report "
        "(until 2026-11-24T15:34:00Z)"
    )


def test_needs_office_after_the_hangup_raises_the_ticket_without_the_say(
    hospital: LoadedDeployment,
) -> None:
    state, _ = _hung_up(hospital)
    report = _event("outcome", 4, "2026-11-24T10:06:00-05:00", outcome="needs-office")
    state, decision = _apply(hospital, state, report)
    kinds = [action["type"] for action in decision["actions"]]
    assert kinds == ["ticket", "hangup"]  # no "say": nobody is there to hear it
    ticket = decision["actions"][0]
    assert ticket["board"] == "cardiology"
    assert ticket["caller"] == CALLER  # the number the office calls back
    assert ticket["due"] == "2026-11-24T15:21:00Z"  # 15 minutes after the report
    assert decision["actions"][1]["reason"] == "caller had hung up"
    assert state.status is Status.ENDED and state.end_reason == "caller had hung up"
    assert decision["trace"][-1] == (
        "cardiology/office.tell-callback: caller had hung up; the call ends"
    )


def test_handled_after_the_hangup_ends_the_call(hospital: LoadedDeployment) -> None:
    state, _ = _hung_up(hospital)
    report = _event("outcome", 4, "2026-11-24T10:05:00-05:00", outcome="handled")
    state, decision = _apply(hospital, state, report)
    assert [action["type"] for action in decision["actions"]] == ["hangup"]
    assert decision["await"] == []
    assert state.status is Status.ENDED


def test_a_second_hangup_is_not_awaited(hospital: LoadedDeployment) -> None:
    state, _ = _hung_up(hospital)
    with pytest.raises(EventRejected) as refused:
        _apply(hospital, state, _event("hangup", 4, "2026-11-24T10:04:01-05:00"))
    assert refused.value.reason == "unexpected-event"


def test_a_hangup_where_nobody_reports_ends_the_call_at_once(
    hospital: LoadedDeployment,
) -> None:
    state = _start(hospital, "w2")
    # the office itself answers: its ring takes no reports
    state, decision = _apply(
        hospital, state, _event("dial.answered", 1, "2026-11-24T10:00:05-05:00")
    )
    assert decision["await"] == ["hangup"]
    state, decision = _apply(hospital, state, _event("hangup", 2, "2026-11-24T10:03:00-05:00"))
    assert state.status is Status.ENDED and state.end_reason == "caller hung up"
    assert decision["await"] == [] and state.report_due == ""


def test_a_hangup_while_the_overflow_rings_ends_the_call(hospital: LoadedDeployment) -> None:
    state = _start(hospital, "w3")
    state, _ = _apply(hospital, state, _event("dial.no-answer", 1, "2026-11-24T10:00:12-05:00"))
    state, _ = _apply(hospital, state, _event("hangup", 2, "2026-11-24T10:00:20-05:00"))
    assert state.status is Status.ENDED and state.end_reason == "caller hung up"


def test_a_report_after_the_bound_is_refused(hospital: LoadedDeployment) -> None:
    state, _ = _hung_up(hospital)
    late = _event("outcome", 4, "2026-11-24T10:34:00-05:00", outcome="needs-office")
    with pytest.raises(EventRejected) as refused:
        _apply(hospital, state, late)
    assert refused.value.reason == "wrap-up-over"
    assert "the agent's report never came" in refused.value.message
    # a moment before the bound, it counts
    just = _event("outcome", 4, "2026-11-24T10:33:59-05:00", outcome="needs-office")
    _, decision = _apply(hospital, state, just)
    assert decision["actions"][0]["type"] == "ticket"


def test_the_bound_ends_the_call(hospital: LoadedDeployment) -> None:
    state, _ = _hung_up(hospital)
    ended = end_wrap_up(state)
    assert ended is not None
    assert ended.status is Status.ENDED and ended.awaiting == ()
    assert ended.end_reason == "the agent's report never came"
    assert ended.seq == state.seq and ended.updated_at == state.report_due
    report = _event("outcome", 4, "2026-11-24T10:40:00-05:00", outcome="needs-office")
    with pytest.raises(EventRejected) as refused:
        _apply(hospital, ended, report)
    assert refused.value.reason == "ended"
    assert "the agent's report never came" in refused.value.message
    assert end_wrap_up(ended) is None  # only a call in wrap-up ends so


def test_the_state_in_wrap_up_goes_to_json_and_back(hospital: LoadedDeployment) -> None:
    state, _ = _hung_up(hospital)
    assert CallState.from_json(state.to_json()) == state


def test_a_state_stored_before_wrap_up_existed_loads(hospital: LoadedDeployment) -> None:
    state, _ = _answered(hospital)
    old = state.to_json()
    del old["caller_gone_at"], old["report_due"]
    loaded = CallState.from_json(old)
    assert loaded.caller_gone_at == "" and loaded.report_due == ""
    # and the hangup it then gets starts the wrap-up, as for a new state
    _, decision = _apply(hospital, loaded, _event("hangup", 3, "2026-11-24T10:04:00-05:00"))
    assert decision["await"] == ["outcome"]
    assert datetime.fromisoformat(loaded.updated_at).tzinfo is not None


def test_the_bound_is_the_deployments_wrap_up_in_both_syntaxes(tmp_path: Path) -> None:
    """`wrap_up: 5m` (YAML) and `wrap_up 5m` (DSL) set the bound; unset, it is 30 minutes."""
    assert load_deployment(HOSPITAL.parent / "hospital-dsl").compiled.wrap_up_s == 1800
    root = HOSPITAL.parents[1]
    shutil.copytree(root / "flows", tmp_path / "flows")
    for name, setting in (("hospital", "wrap_up: 5m"), ("hospital-dsl", "wrap_up 5m")):
        folder = tmp_path / "examples" / name
        shutil.copytree(root / "examples" / name, folder)
        document = next(folder.glob("deployment.*"))
        text = document.read_text()
        document.write_text(re.sub(r"wrap_up:? 30m", setting, text))
        assert load_deployment(folder).compiled.wrap_up_s == 300
        document.write_text(re.sub(r".*wrap_up:? 30m.*\n", "", text))
        assert load_deployment(folder).compiled.wrap_up_s == 1800
    yaml = tmp_path / "examples" / "hospital" / "deployment.yaml"
    yaml.write_text(
        re.sub(r"wrap_up: 30m", "wrap_up: 5m", (HOSPITAL / "deployment.yaml").read_text())
    )
    state, _ = _hung_up(load_deployment(yaml.parent))
    assert state.report_due == "2026-11-24T15:09:00Z"
