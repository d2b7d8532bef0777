"""`passage serve COMPONENT` and `passage migrate`: the production entry points."""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from passage.component import component_names, load_component
from passage.settings import Settings


def _settings() -> Settings | None:
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "settings"
            print(f"passage: {where}: {error['msg']}", file=sys.stderr)
        return None


def serve(name: str, *, host: str | None, port: int | None) -> int:
    import uvicorn

    from passage.logging import configure_logging
    from passage.web import build_app

    settings = _settings()
    if settings is None:
        return 2
    try:
        component = load_component(name)
    except LookupError as exc:
        print(f"passage: {exc}", file=sys.stderr)
        return 2
    configure_logging(component=name, level=settings.log_level, json=settings.log_json)
    app = build_app(component, settings)
    # uvicorn handles SIGTERM/SIGINT (stop accepting, finish in-flight requests, run the
    # shutdown), then re-raises the signal with the handlers it found installed. Installing
    # do-nothing handlers first makes a clean stop exit 0 instead of dying by the signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    uvicorn.run(
        app,
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.graceful_shutdown_seconds),
        proxy_headers=True,
        server_header=False,
    )
    return 0


def migrate(names: Sequence[str]) -> int:
    from passage.migrations import upgrade

    settings = _settings()
    if settings is None:
        return 2
    selected = list(names) or component_names()
    try:
        components = [load_component(n) for n in selected]
    except LookupError as exc:
        print(f"passage: {exc}", file=sys.stderr)
        return 2
    for component in components:
        upgrade(schema=component.schema, migrations=component.migrations, database_url=settings.database_url)
        print(f"migrated {component.name}")
    return 0
