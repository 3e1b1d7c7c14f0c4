"""The store: the tables, a call's rows (the hot path), tickets, the SQLite writer, timers
and the notification outbox."""
