"""The package version: one place, read by the facade, the service and outgoing requests."""

__version__ = "0.1.0"
