"""What a component (a service or the gateway) declares, and how the kernel finds it."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

from fastapi import APIRouter, FastAPI

from passage.bus.consumer import Subscription
from passage.settings import Settings
from passage.timers import TimerHandler

ENTRY_POINT_GROUP = "passage.components"
# The order `passage dev` starts them in: services first, the gateway once they answer.
COMPONENT_ORDER = ("intake", "referrals", "scoring", "notifications", "gateway")

Lifespan = Callable[[FastAPI, Settings], AbstractAsyncContextManager[None]]


@dataclass(frozen=True)
class Command:
    """A `passage <name> ...` subcommand a component contributes (e.g. `passage directory import`).

    `configure` adds the arguments (or sub-parsers) to the command's parser; `run` is synchronous,
    builds its own Settings from the environment, and returns the exit code.
    """

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Component:
    name: str
    title: str
    description: str
    schema: str
    migrations: Path
    routers: Sequence[APIRouter] = ()
    # For routers whose shape depends on settings (e.g. GraphiQL only in dev).
    router_factory: Callable[[Settings], Sequence[APIRouter]] | None = None
    publishes: bool = True
    subscriptions: Sequence[Subscription] = ()
    lifespan: Lifespan | None = None
    # Durable timers (passage.timers): kind -> handler, run by the component's timer worker.
    timers: Mapping[str, TimerHandler] = field(default_factory=dict)
    commands: Sequence[Command] = ()
    openapi_tags: Sequence[dict[str, str]] = field(default_factory=tuple)


def load_component(name: str) -> Component:
    matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not matches:
        known = ", ".join(component_names())
        raise LookupError(f"no component named {name!r}; known: {known}")
    component = matches[0].load()
    if not isinstance(component, Component):
        raise TypeError(f"entry point {name!r} is not a passage Component")
    return component


def component_names() -> list[str]:
    found = {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    ordered = [n for n in COMPONENT_ORDER if n in found]
    return ordered + sorted(found - set(ordered))
