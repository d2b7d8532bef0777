"""Named fault points for resilience tests: `PASSAGE_FAULTS=relay.after_publish` makes the
process die at that point as if killed with SIGKILL. Settings refuse faults in production."""

from __future__ import annotations

import os

import structlog

log = structlog.get_logger(__name__)

_armed: frozenset[str] = frozenset()


def arm(spec: str) -> None:
    global _armed
    _armed = frozenset(part.strip() for part in spec.split(",") if part.strip())


def fault_point(name: str) -> None:
    if name in _armed:
        log.warning("fault_point_fired", point=name)
        os._exit(137)
