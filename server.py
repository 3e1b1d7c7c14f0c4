"""ASGI entry point: `uvicorn server:app` serves the deployment named by ROUTING_DEPLOYMENT
(default: the hospital example). `python cli.py serve DEPLOYMENT` is the usual way in."""

import os

from routing_engine.service.app import create_app

app = create_app(os.environ.get("ROUTING_DEPLOYMENT", "examples/hospital"))
