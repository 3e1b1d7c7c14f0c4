"""Metrics (Prometheus) and structured logs for the service.

Metrics are multiprocess-safe: with $PROMETHEUS_MULTIPROC_DIR set (several workers), every
process writes its own files and `/metrics` adds them up. Logs are JSON lines that carry the
call id, the deployment version and the node.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

DECISIONS = Counter(
    "routing_decisions", "Decisions made, by result and node kind", ["result", "kind"]
)
FALLBACKS = Counter("routing_fallbacks", "Fallback decisions, by reason", ["reason"])
REFUSALS = Counter("routing_refusals", "Requests refused with a 4xx, by error", ["error"])
LATENCY = Histogram(
    "routing_decision_seconds",
    "Time to answer a call or event, in seconds",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
OPEN_CALLS = Gauge("routing_open_calls", "Calls not yet ended", multiprocess_mode="max")


def metrics_payload(open_calls: int) -> tuple[bytes, str]:
    """The /metrics body: this process's metrics, or every worker's in multiprocess mode."""
    OPEN_CALLS.set(open_calls)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and the call's context."""

    FIELDS = ("call_id", "version", "node", "reason", "status")

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in self.FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("routing_engine")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
