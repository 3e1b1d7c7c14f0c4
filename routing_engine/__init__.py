"""Call-routing process maps: flow files -> validated, compiled maps -> routing decisions."""

from routing_engine.api import CheckResult, LoadedDeployment, check, load_deployment
from routing_engine.contract import BadRequest
from routing_engine.core.diagnostics import Diagnostic, DiagnosticError
from routing_engine.core.runtime import EventRejected

__all__ = [
    "BadRequest",
    "CheckResult",
    "Diagnostic",
    "DiagnosticError",
    "EventRejected",
    "LoadedDeployment",
    "check",
    "load_deployment",
]
__version__ = "0.1.0"
