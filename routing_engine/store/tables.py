"""The store's tables (SQLAlchemy Core), in one place for every module that reads or writes
them. Times are ISO 8601 text in UTC; JSON lists and objects are text."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Column, Integer, MetaData, Select, String, Table, Text, UniqueConstraint
from sqlalchemy.sql.elements import ColumnElement

Row = TypeVar("Row", bound=tuple[Any, ...])

metadata = MetaData()


def iso(at: datetime) -> str:
    """A time as the store keeps it: UTC ISO text, so times compare as text."""
    return at.astimezone(UTC).isoformat()


def narrowed(query: Select[Row], *filters: tuple[ColumnElement[Any], Any]) -> Select[Row]:
    """`query` kept to the rows whose column equals each filter's value (a None value: any),
    as the listing routes filter by their optional parameters."""
    for column, value in filters:
        if value is not None:
            query = query.where(column == value)
    return query


calls = Table(
    "calls",
    metadata,
    Column("call_id", String(128), primary_key=True),
    Column("digest", String(64), nullable=False),  # the deployment version the call is pinned to
    Column("seq", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("state", Text, nullable=False),
    Column("first_decision", Text, nullable=False),
    Column("started_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
)
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_id", String(128), nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("request", Text, nullable=False),
    Column("decision", Text, nullable=False),
    Column("received_at", String(40), nullable=False),
    UniqueConstraint("call_id", "event_id", name="one_decision_per_event"),
)
versions = Table(
    "flow_versions",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("sources", Text, nullable=False),
    Column("published_at", String(40), nullable=False),
)
tickets = Table(
    "tickets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("board", String(64), nullable=False, index=True),
    Column("call_id", String(128), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("caller", String(32), nullable=False),
    Column("region", String(16), nullable=False),  # the caller's, e.g. US-NY ('' unknown)
    Column("call_type", String(128), nullable=False),  # the flow the call entered
    Column("node", String(256), nullable=False),
    Column("summary", Text, nullable=False),
    Column("story", Text, nullable=False),  # a JSON list: what happened, in plain words
    Column("recording", Text, nullable=True),
    Column("managers", Text, nullable=False),  # a JSON list of contact names
    Column("sla_s", Integer, nullable=True),
    Column("due", String(40), nullable=True),
    Column("status", String(16), nullable=False),  # open, claimed, resolved
    Column("assignee", String(128), nullable=True),
    Column("note", Text, nullable=True),  # the resolution note
    Column("version", Integer, nullable=False),  # +1 on every change (optimistic concurrency)
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("resolved_at", String(40), nullable=True),
    UniqueConstraint("call_id", "seq", "node", name="one_ticket_per_decision"),
)
# Every change of every ticket, in order: the ticket's history, the audit trail, and what the
# board's event stream replays (`id` is the stream's event id, for Last-Event-ID).
ticket_events = Table(
    "ticket_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", Integer, nullable=False, index=True),
    Column("board", String(64), nullable=False, index=True),
    Column("at", String(40), nullable=False),
    Column("kind", String(32), nullable=False),  # created, claimed, released, resolved, ...
    Column("actor", String(128), nullable=False),  # who: a person, or "engine"
    Column("detail", Text, nullable=False),  # a JSON object
)
# Durable timers: each fires once (the row's state moves from pending under a condition, so of
# several processes sharing the store exactly one wins).
timers = Table(
    "timers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", Integer, nullable=True, index=True),
    Column("call_id", String(128), nullable=True, index=True),
    Column("kind", String(32), nullable=False),  # sla, escalation, resolve-within, wrap-up
    Column("level", Integer, nullable=False),  # 0: the SLA itself; 1, 2...: escalations
    Column("due_at", String(40), nullable=False, index=True),
    Column("notify", Text, nullable=False),  # a JSON list of contact names
    Column("state", String(16), nullable=False),  # pending, fired, cancelled
    Column("fired_at", String(40), nullable=True),
    Column("fired_by", String(64), nullable=True),
    UniqueConstraint("ticket_id", "call_id", "kind", "level", name="one_timer_per_level"),
)
# Notifications to send (an outbox): each delivery is leased by one process at a time,
# retried with backoff, and every attempt is recorded on its ticket (a call's time limit has
# no ticket: its attempts are the row's own `attempts` and `last_error`).
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("timer_id", Integer, nullable=False, index=True),
    Column("ticket_id", Integer, nullable=True, index=True),
    Column("call_id", String(128), nullable=True, index=True),
    Column("event", String(32), nullable=False),  # sla-missed, escalated, call-unresolved
    Column("contact", String(64), nullable=False),
    Column("channel", String(16), nullable=False),  # webhook, email
    Column("address", Text, nullable=False),  # the URL or e-mail address
    Column("payload", Text, nullable=False),  # the JSON body
    Column("status", String(16), nullable=False),  # pending, delivered, failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", String(40), nullable=False, index=True),
    Column("lease_until", String(40), nullable=True),
    Column("leased_by", String(64), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", String(40), nullable=True),
    UniqueConstraint("timer_id", "contact", "channel", name="one_delivery_per_contact"),
)
# What the built-in webhook receiver (`POST /notifications/inbox`) took in: a contact whose
# webhook is that path gets its notifications here, shown at GET /v1/notifications/inbox.
inbox = Table(
    "inbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", String(40), nullable=False),
    Column("delivery", String(64), nullable=True),  # the X-Routing-Delivery header
    Column("event", String(32), nullable=False),
    Column("contact", String(64), nullable=False),
    Column("signature", String(16), nullable=False),  # valid, or unsigned (no secret set)
    Column("payload", Text, nullable=False),
)
target_states = Table(
    "target_states",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("available", Integer, nullable=True),  # 1, 0, or NULL: as declared
    Column("skills", Text, nullable=True),  # a JSON list, or NULL: as declared
    Column("updated_at", String(40), nullable=False),
)
# The board's sign-in sessions: a cookie is honoured only while its row says so, so signing
# out, a removed key or an expiry ends it on every server sharing the store. `id` is the
# SHA-256 of the cookie's random session id (never the id itself); `key_id` names the key by
# an HMAC (never the key nor its hash).
board_sessions = Table(
    "board_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(128), nullable=False),  # the person, as changes record them
    Column("role", String(16), nullable=False),
    Column("key_id", String(32), nullable=False, index=True),  # '' when no keys are configured
    Column("issued_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=False, index=True),
    Column("revoked_at", String(40), nullable=True),
    Column("revoked_why", String(32), nullable=True),  # signed-out, key-removed
)
# Whose store this is: one row, the deployment that claimed it when a server first opened it
# (see `database.Store.open`). A store holds one deployment's calls, tickets, versions, timers
# and deliveries, so no row below needs to name its deployment.
owner = Table(
    "store_owner",
    metadata,
    Column("id", Integer, primary_key=True),  # always 1
    Column("deployment", String(128), nullable=False),
    Column("claimed_at", String(40), nullable=False),
)
decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_id", String(128), nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("node", String(256), nullable=False),
    Column("fallback_reason", String(64), nullable=True),
    Column("decision", Text, nullable=False),
    Column("decided_at", String(40), nullable=False),
)
