"""The HTTP service (FastAPI): routes, the deadline, auth and sessions, the board and its
stream, notifications and metrics."""
