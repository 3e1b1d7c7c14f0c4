"""The schema of the release before migrations: every table and index it made.

Each table and index is made only when missing, so the same revision brings a new store and
that release's store (whose tables it keeps as they are) to the baseline.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

CALL_ID = 128
TIME = 40


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


def _table(name: str, *columns: sa.Column[Any] | sa.Constraint) -> None:
    op.create_table(name, *columns, if_not_exists=True)


def _indexes(table: str, *columns: str) -> None:
    for column in columns:
        op.create_index(f"ix_{table}_{column}", table, [column], if_not_exists=True)


def upgrade() -> None:
    _calls_and_events()
    _tickets()
    _timers_and_deliveries()
    _the_rest()


def _calls_and_events() -> None:
    _table(
        "calls",
        sa.Column("call_id", sa.String(CALL_ID), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("first_decision", sa.Text, nullable=False),
        sa.Column("started_at", sa.String(TIME), nullable=False),
        sa.Column("updated_at", sa.String(TIME), nullable=False),
    )
    _table(
        "events",
        _id(),
        sa.Column("call_id", sa.String(CALL_ID), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("decision", sa.Text, nullable=False),
        sa.Column("received_at", sa.String(TIME), nullable=False),
        sa.UniqueConstraint("call_id", "event_id", name="one_decision_per_event"),
    )
    _table(
        "decisions",
        _id(),
        sa.Column("call_id", sa.String(CALL_ID), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("node", sa.String(256), nullable=False),
        sa.Column("fallback_reason", sa.String(64), nullable=True),
        sa.Column("decision", sa.Text, nullable=False),
        sa.Column("decided_at", sa.String(TIME), nullable=False),
    )
    _indexes("decisions", "call_id")
    _table(
        "flow_versions",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("sources", sa.Text, nullable=False),
        sa.Column("published_at", sa.String(TIME), nullable=False),
    )


def _tickets() -> None:
    _table(
        "tickets",
        _id(),
        sa.Column("board", sa.String(64), nullable=False),
        sa.Column("call_id", sa.String(CALL_ID), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("caller", sa.String(32), nullable=False),
        sa.Column("region", sa.String(16), nullable=False),
        sa.Column("call_type", sa.String(128), nullable=False),
        sa.Column("node", sa.String(256), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("story", sa.Text, nullable=False),
        sa.Column("recording", sa.Text, nullable=True),
        sa.Column("managers", sa.Text, nullable=False),
        sa.Column("sla_s", sa.Integer, nullable=True),
        sa.Column("due", sa.String(TIME), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(128), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.String(TIME), nullable=False),
        sa.Column("updated_at", sa.String(TIME), nullable=False),
        sa.Column("resolved_at", sa.String(TIME), nullable=True),
        sa.UniqueConstraint("call_id", "seq", "node", name="one_ticket_per_decision"),
    )
    _indexes("tickets", "board", "call_id")
    _table(
        "ticket_events",
        _id(),
        sa.Column("ticket_id", sa.Integer, nullable=False),
        sa.Column("board", sa.String(64), nullable=False),
        sa.Column("at", sa.String(TIME), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    _indexes("ticket_events", "ticket_id", "board")


def _timers_and_deliveries() -> None:
    _table(
        "timers",
        _id(),
        sa.Column("ticket_id", sa.Integer, nullable=True),
        sa.Column("call_id", sa.String(CALL_ID), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("due_at", sa.String(TIME), nullable=False),
        sa.Column("notify", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("fired_at", sa.String(TIME), nullable=True),
        sa.Column("fired_by", sa.String(64), nullable=True),
        sa.UniqueConstraint("ticket_id", "call_id", "kind", "level", name="one_timer_per_level"),
    )
    _indexes("timers", "ticket_id", "call_id", "due_at")
    _table(
        "deliveries",
        _id(),
        sa.Column("timer_id", sa.Integer, nullable=False),
        sa.Column("ticket_id", sa.Integer, nullable=True),
        sa.Column("call_id", sa.String(CALL_ID), nullable=True),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("contact", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.String(TIME), nullable=False),
        sa.Column("lease_until", sa.String(TIME), nullable=True),
        sa.Column("leased_by", sa.String(64), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("delivered_at", sa.String(TIME), nullable=True),
        sa.UniqueConstraint("timer_id", "contact", "channel", name="one_delivery_per_contact"),
    )
    _indexes("deliveries", "timer_id", "ticket_id", "call_id", "next_attempt_at")


def _the_rest() -> None:
    _table(
        "inbox",
        _id(),
        sa.Column("received_at", sa.String(TIME), nullable=False),
        sa.Column("delivery", sa.String(64), nullable=True),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("contact", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
    )
    _table(
        "target_states",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("available", sa.Integer, nullable=True),
        sa.Column("skills", sa.Text, nullable=True),
        sa.Column("updated_at", sa.String(TIME), nullable=False),
    )
    _table(
        "board_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("issued_at", sa.String(TIME), nullable=False),
        sa.Column("expires_at", sa.String(TIME), nullable=False),
        sa.Column("revoked_at", sa.String(TIME), nullable=True),
        sa.Column("revoked_why", sa.String(32), nullable=True),
    )
    _indexes("board_sessions", "key_id", "expires_at")
    _table(
        "store_owner",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("deployment", sa.String(128), nullable=False),
        sa.Column("claimed_at", sa.String(TIME), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("the baseline is where the store's history begins")
