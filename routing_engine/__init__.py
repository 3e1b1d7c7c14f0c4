"""Call-routing process maps: flow files -> validated, compiled maps -> routing decisions."""

from routing_engine.api import CheckResult, LoadedDeployment, check, load_deployment
from routing_engine.contract import BadRequest
from routing_engine.core.diagnostics import Diagnostic, DiagnosticError
from routing_engine.core.runtime import EventRejected
from routing_engine.core.version import __version__

__all__ = [
    "BadRequest",
    "CheckResult",
    "Diagnostic",
    "DiagnosticError",
    "EventRejected",
    "LoadedDeployment",
    "__version__",
    "check",
    "load_deployment",
]
