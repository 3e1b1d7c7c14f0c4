"""Asterisk's side of the AGI protocol, played for the shipped AGI script (Asterisk itself cannot
run here), as "Asterisk: The Definitive Guide" ("AGI Communication Overview": the `agi_*`
environment block ended by a blank line, then one command line from the script and one
`200 result=...` reply) and Asterisk's AGI command reference (`GET VARIABLE`, `SET VARIABLE`,
`EXEC`, `GET DATA`, `RECORD FILE`; `511` on a dead channel) give it.

The channel's clock is `EPOCH` (a variable Asterisk always answers), moved on by what each
command takes: a Dial by its ring time and talk time, a prompt by its length."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from conftest import ROOT

AGI_SCRIPT = ROOT / "examples" / "telephony" / "asterisk" / "routing_agi.py"


@dataclass
class Dialed:
    """How one Dial() ends: its DIALSTATUS, how long it rang, how long the answered call
    lasted (ANSWEREDTIME)."""

    status: str
    rang_s: int
    talked_s: int = 0
    ends_call: bool = False  # an answered call: Dial() returns -1, the caller's channel gone


@dataclass
class Channel:
    """One caller's channel: what each Dial() and GET DATA meets, and what the script did."""

    uniqueid: str
    caller: str
    extension: str
    started: datetime
    dials: list[Dialed] = field(default_factory=list)
    digits: list[str] = field(default_factory=list)
    hung_up: bool = False
    # run when a Dial() is answered, with the arguments of its U() subroutine, as Asterisk
    # runs the subroutine on the called channel before it bridges the call
    on_answer: Callable[[list[str]], None] | None = None
    on_dial: Callable[[], None] | None = None  # run as each Dial() starts ringing
    commands: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.epoch = int(self.started.timestamp())

    def environment(self, *args: str) -> str:
        """The block Asterisk writes first: one `agi_name: value` a line, then a blank line."""
        env = {
            "agi_request": "routing_agi.py",
            "agi_channel": f"PJSIP/carrier-{self.uniqueid.replace('.', '')}",
            "agi_language": "en",
            "agi_type": "PJSIP",
            "agi_uniqueid": self.uniqueid,
            "agi_version": "20.5.0",
            "agi_callerid": self.caller,
            "agi_calleridname": "Caller",
            "agi_callingpres": "0",
            "agi_callingani2": "0",
            "agi_callington": "0",
            "agi_callingtns": "0",
            "agi_dnid": self.extension,
            "agi_rdnis": "unknown",
            "agi_context": "routing-in",
            "agi_extension": self.extension,
            "agi_priority": "2",
            "agi_enhanced": "0.0",
            "agi_accountcode": "",
            "agi_threadid": "140071434659584",
        }
        env.update({f"agi_arg_{n}": arg for n, arg in enumerate(args, start=1)})
        return "".join(f"{name}: {value}\n" for name, value in env.items()) + "\n"

    def reply(self, command: str) -> str:
        """Asterisk's reply line to one command."""
        self.commands.append(command)
        words = shlex.split(command)
        verb = " ".join(words[:2])
        if self.hung_up and verb not in ("GET VARIABLE", "SET VARIABLE", "VERBOSE"):
            return "511 Command Not Permitted on a dead channel or intercept routine"
        if verb == "GET VARIABLE":
            value = str(self.epoch) if words[2] == "EPOCH" else self.variables.get(words[2])
            return "200 result=0" if value is None else f"200 result=1 ({value})"
        if verb == "SET VARIABLE":
            self.variables[words[2]] = words[3]
            return "200 result=1"
        if words[0] == "VERBOSE":
            return "200 result=1"
        if words[0] == "EXEC" and words[1] == "Dial":
            dialed = self.dials.pop(0)
            if self.on_dial is not None:
                self.on_dial()
            subroutine = re.search(r"U\(([^)]*)\)", words[2])
            if dialed.status == "ANSWER" and self.on_answer is not None and subroutine:
                self.on_answer(subroutine.group(1).split("^"))
            self.epoch += dialed.rang_s + dialed.talked_s
            self.variables["DIALSTATUS"] = dialed.status
            self.variables["ANSWEREDTIME"] = str(dialed.talked_s)
            if dialed.status == "ANSWER" and dialed.ends_call:
                # the bridged call ended with the caller's channel (Dial() without its `g`
                # option): Dial() returns -1 and the channel is hung up
                self.hung_up = True
                return "200 result=-1"
            return "200 result=0"
        if words[0] == "EXEC" and words[1] == "Playback":
            self.epoch += 4
            return "200 result=0"
        if verb == "GET DATA":
            self.epoch += 6
            digits = self.digits.pop(0) if self.digits else ""
            if digits == "HANGUP":  # the caller hangs up during the prompt
                self.hung_up = True
                return "200 result=-1"
            return f"200 result={digits}" + ("" if digits else " (timeout)")
        if verb == "RECORD FILE":
            self.epoch += 30
            return "200 result=0 (timeout) endpos=240000"
        return "510 Invalid or unknown command"


def run_agi(channel: Channel, engine_url: str, key: str, *args: str, timeout_s: float = 60) -> int:
    """Run the AGI script as Asterisk would (`AGI(routing_agi.py,ARGS)`), answering each of its
    commands as the channel; its exit status."""
    env = {
        **os.environ,
        "ROUTING_ENGINE_URL": engine_url,
        "ROUTING_API_KEY": key,
        "ROUTING_TIMEOUT_S": "5",
    }
    script = subprocess.Popen(
        [sys.executable, str(AGI_SCRIPT), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    killer = threading.Timer(timeout_s, script.kill)  # bounded, whatever the script does
    killer.start()
    try:
        assert script.stdin is not None and script.stdout is not None
        script.stdin.write(channel.environment(*args))
        script.stdin.flush()
        for line in iter(script.stdout.readline, ""):
            script.stdin.write(channel.reply(line.rstrip("\n")) + "\n")
            script.stdin.flush()
        return script.wait(timeout=timeout_s)
    finally:
        killer.cancel()
        if script.poll() is None:
            script.kill()
            script.wait(timeout=10)
        for stream in (script.stdin, script.stdout, script.stderr):
            if stream is not None:
                stream.close()
