"""`cli.py test`: run a deployment's scenario files and report pass/fail and coverage."""

from __future__ import annotations
