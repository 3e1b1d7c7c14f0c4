"""A bare FastAPI endpoint for the HTTP benchmark: it parses a new call's body with the same
contract model as `POST /v1/calls` and answers a constant decision, without a store or a flow.

Serve it exactly as `cli.py serve` serves the engine (same socket, same uvicorn settings):
`python -m benchmarks.bare_app --port P [--workers N]`.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from routing_engine.contract import BadRequest, parse_new_call

# A decision of the same shape and about the same size as the hospital main line's first one.
DECISION: dict[str, Any] = {
    "seq": 1,
    "flow": {
        "name": "ivr",
        "version": "15c2cbcdce39",
        "hash": "15c2cbcdce398b0dea622ec9bbc9d0429bc3699734a3aeadc6aa00acf50f83ba",
    },
    "node": "main-menu",
    "actions": [
        {
            "type": "menu",
            "prompt": "Thank you for calling Mercy General Hospital. For cardiology, press 1. "
            "For radiology, press 2. For billing, press 3. For the pharmacy, press 4. "
            "For the front desk, press 0.",
            "options": ["1", "2", "3", "4", "0"],
            "max_digits": 1,
            "timeout_s": 5.0,
            "attempt": 1,
        }
    ],
    "await": ["digits", "no-input", "hangup"],
    "fallback": {
        "actions": [
            {
                "type": "ring",
                "targets": [{"name": "front-desk-office", "uri": "sip:front-desk@mercy.example"}],
                "timeout_s": 30.0,
                "strategy": "simultaneous",
            },
            {"type": "hangup", "reason": "fallback"},
        ],
        "await": [],
    },
    "fallback_reason": None,
    "trace": ["entry +12125550111 -> ivr/main-menu"],
}


def create_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/v1/calls")
    async def new_call(request: Request) -> JSONResponse:
        try:
            call = parse_new_call(json.loads(await request.body()))
        except (ValueError, BadRequest) as error:
            return JSONResponse({"error": str(error)}, status_code=422)
        return JSONResponse({"call_id": call.call_id, **DECISION})

    return app


def serve(host: str, port: int, workers: int) -> None:
    """The same socket and uvicorn settings as `cli.py serve` (one `run_server`); only the app
    differs."""
    from routing_engine.service.app import run_server

    run_server("benchmarks.bare_app:create_app", host, port, workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    serve(args.host, args.port, args.workers)


if __name__ == "__main__":
    main()
