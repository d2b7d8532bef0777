"""`passage dev`: everything on one machine, from one command, with its data under one folder.

Order of start: PostgreSQL, NATS, migrations, the four services, the gateway; stop is the
reverse. Children that die are restarted; Ctrl-C or SIGTERM stops everything cleanly.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from passage.cli.demo import seed_demo
from passage.cli.embedded import (
    EmbeddedNats,
    EmbeddedPostgres,
    EmbeddedServerError,
    spawn,
    stop_process,
    tail,
)
from passage.component import component_names, load_component
from passage.devkeys import DEV_AUDIENCE, DEV_ISSUER, ensure_dev_keys, mint_token
from passage.migrations import upgrade

SERVICE_PORT_OFFSETS = {"gateway": 0, "intake": 1, "referrals": 2, "scoring": 3, "notifications": 4}
READY_TIMEOUT_SECONDS = 90.0
MAX_RESTARTS_PER_MINUTE = 5


class StopRequested(Exception):
    pass


@dataclass
class Child:
    name: str
    port: int
    argv: list[str]
    env: dict[str, str]
    log_file: Path
    proc: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = spawn(self.argv, log_file=self.log_file, env=self.env, death_signal=signal.SIGTERM)


def _say(message: str) -> None:
    print(message, flush=True)


@contextlib.contextmanager
def _exclusive(data_dir: Path) -> Iterator[None]:
    lock_path = data_dir / "dev.lock"
    handle: IO[str] = lock_path.open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise EmbeddedServerError(f"another `passage dev` is running on {data_dir}") from None
    try:
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


def _on_signal(signum: int, _frame: object) -> None:
    # Ignore further signals while stopping, so a second Ctrl-C cannot cut the cleanup short.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise StopRequested(signal.Signals(signum).name)


def run_dev(*, data_dir: Path, port_base: int, demo: bool) -> int:
    if not 1024 <= port_base <= 65535 - 4:
        _say("--port-base must leave room for five ports between 1024 and 65535")
        return 2
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    stack = DevStack(data_dir, port_base)
    code = 0
    try:
        with _exclusive(data_dir):
            try:
                stack.start(demo=demo)
                _supervise(stack.children)
            except StopRequested as stop:
                _say(f"\n{stop}: stopping Passage...")
            except EmbeddedServerError as exc:
                _say(f"passage dev: {exc}")
                code = 1
            finally:
                stack.stop()
    except EmbeddedServerError as exc:  # the folder is in use
        _say(f"passage dev: {exc}")
        return 1
    _say("Passage stopped.")
    return code


class DevStack:
    """PostgreSQL, NATS and the components of one data folder."""

    def __init__(self, data_dir: Path, port_base: int) -> None:
        self.data_dir = data_dir
        self.port_base = port_base
        self.postgres: EmbeddedPostgres | None = None
        self.nats: EmbeddedNats | None = None
        self.children: list[Child] = []

    def start(self, *, demo: bool) -> None:
        database_url = self._database()
        nats_url = self._nats()
        private_key, public_key = ensure_dev_keys(self.data_dir)
        names = component_names()
        for name in names:
            component = load_component(name)
            upgrade(schema=component.schema, migrations=component.migrations, database_url=database_url)
        _say(f"Migrated: {', '.join(names)}")

        env = _child_env(database_url, nats_url, (private_key, public_key), self.port_base)
        for i, name in enumerate(names):
            port = self.port_base + SERVICE_PORT_OFFSETS.get(name, 5 + i)
            argv = [sys.executable, "-m", "passage", "serve", name, "--port", str(port)]
            child = Child(
                name=name, port=port, argv=argv, env=env, log_file=self.data_dir / "logs" / f"{name}.log"
            )
            self.children.append(child)
            child.start()
        _wait_ready(self.children)

        urls = {name: env[f"PASSAGE_{name.upper()}_URL"] for name in ("intake", "referrals")}
        demo_info = seed_demo(self.data_dir, private_key, urls=urls) if demo else None
        info = _write_dev_json(self.data_dir, self.children, database_url, nats_url, demo_info)
        token = mint_token(
            private_key,
            agency="demo-agency",
            roles=["case_worker"],
            sub="demo-case-worker",
            ttl_seconds=12 * 3600,
        )
        _print_summary(self.data_dir, info, token)

    def _database(self) -> str:
        external = os.environ.get("PASSAGE_DATABASE_URL")
        if external:
            _say("PostgreSQL: using PASSAGE_DATABASE_URL")
            return external
        self.postgres = EmbeddedPostgres(self.data_dir / "postgres")
        self.postgres.start()
        _say(f"PostgreSQL: embedded, pid {self.postgres.pid}, port {self.postgres.port}")
        return self.postgres.ensure_database("passage")

    def _nats(self) -> str:
        external = os.environ.get("PASSAGE_NATS_URL")
        if external:
            _say("NATS: using PASSAGE_NATS_URL")
            return external
        self.nats = EmbeddedNats(self.data_dir / "nats")
        self.nats.start()
        _say(f"NATS: embedded nats-server with JetStream, pid {self.nats.pid}, port {self.nats.port}")
        return self.nats.url

    def stop(self) -> None:
        for child in self.children:
            if child.proc is not None and child.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.send_signal(signal.SIGTERM)
        for child in self.children:
            if child.proc is not None:
                stop_process(child.proc, signal.SIGTERM, timeout=20)
        if self.nats is not None:
            self.nats.stop()
        if self.postgres is not None:
            self.postgres.stop()


def _child_env(database_url: str, nats_url: str, keys: tuple[Path, Path], port_base: int) -> dict[str, str]:
    private_key, public_key = keys
    env = dict(os.environ)
    env.update(
        PASSAGE_ENV="dev",
        PASSAGE_DATABASE_URL=database_url,
        PASSAGE_NATS_URL=nats_url,
        PASSAGE_JWT_PUBLIC_KEY_FILE=str(public_key),
        PASSAGE_JWT_PRIVATE_KEY_FILE=str(private_key),  # each component mints its service token
        PASSAGE_JWT_ISSUER=DEV_ISSUER,
        PASSAGE_JWT_AUDIENCE=DEV_AUDIENCE,
        PASSAGE_HOST="127.0.0.1",
        PYTHONUNBUFFERED="1",
    )
    for name in ("intake", "referrals", "scoring", "notifications"):
        env[f"PASSAGE_{name.upper()}_URL"] = f"http://127.0.0.1:{port_base + SERVICE_PORT_OFFSETS[name]}"
    return env


def _wait_ready(children: list[Child]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    pending = list(children)
    with httpx.Client(timeout=2.0) as http:
        while pending:
            for child in list(pending):
                assert child.proc is not None
                if child.proc.poll() is not None:
                    raise EmbeddedServerError(
                        f"{child.name} exited at start (code {child.proc.returncode}); "
                        f"its log {child.log_file}:\n{tail(child.log_file)}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(f"{child.url}/ready").status_code == 200:
                        pending.remove(child)
            if pending and time.monotonic() > deadline:
                late = ", ".join(c.name for c in pending)
                raise EmbeddedServerError(f"not ready in {READY_TIMEOUT_SECONDS:.0f}s: {late}")
            if pending:
                time.sleep(0.2)


def _supervise(children: list[Child]) -> None:
    while True:
        time.sleep(0.5)
        for child in children:
            assert child.proc is not None
            code = child.proc.poll()
            if code is None:
                continue
            now = time.monotonic()
            child.restarts = [t for t in child.restarts if now - t < 60] + [now]
            if len(child.restarts) > MAX_RESTARTS_PER_MINUTE:
                raise EmbeddedServerError(
                    f"{child.name} keeps exiting (code {code}); see {child.log_file}:\n{tail(child.log_file)}"
                )
            _say(f"{child.name} exited with code {code}; restarting it")
            child.start()


def _write_dev_json(
    data_dir: Path,
    children: list[Child],
    database_url: str,
    nats_url: str,
    demo: dict[str, Any] | None,
) -> dict[str, Any]:
    by_name = {c.name: c for c in children}
    info: dict[str, Any] = {
        "gateway": f"{by_name['gateway'].url}/graphql",
        "services": {n: by_name[n].url for n in ("intake", "referrals", "scoring", "notifications")},
        "database_url": database_url,
        "nats_url": nats_url,
        "pid": os.getpid(),
        "logs": str(data_dir / "logs"),
    }
    if demo is not None:
        info["demo"] = demo
    path = data_dir / "dev.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    tmp.replace(path)
    return info


def _passage_command() -> str:
    """How this user can call `passage` again: the script beside this Python, relative if shorter."""
    script = Path(sys.executable).parent / "passage"
    if not script.exists():
        return f"{sys.executable} -m passage"
    relative = os.path.relpath(script)
    return relative if len(relative) < len(str(script)) else str(script)


def _print_summary(data_dir: Path, info: dict[str, Any], token: str) -> None:
    passage = _passage_command()
    lines = [
        "",
        "Passage is running.",
        f"  gateway (GraphQL, GraphiQL in a browser): {info['gateway']}",
        *(f"  {name:<14} {url}  (OpenAPI: {url}/docs)" for name, url in info["services"].items()),
        f"  data, keys and logs:  {data_dir}",
        f"  connection details:   {data_dir / 'dev.json'}",
        "",
        "A token for agency demo-agency, role case_worker, valid 12 hours:",
        "",
        token,
        "",
        "Try:",
        f"  TOKEN=$({passage} token --data-dir {data_dir} --agency demo-agency --role case_worker | tail -1)",
        f'  curl -s -X POST {info["services"]["intake"]}/v1/clients -H "Authorization: Bearer $TOKEN" \\',
        "    -H 'Content-Type: application/json' \\",
        '    -d \'{"given_name": "Amina", "family_name": "Diallo", "birth_year": 1994, "sex": "female"}\'',
        "",
        "Stop with Ctrl-C.",
    ]
    _say("\n".join(lines))
