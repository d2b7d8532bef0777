"""Passage shared kernel: settings, logging, errors, auth, database, events, CLI."""

__version__ = "0.1.0"
