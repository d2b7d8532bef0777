"""Running `passage dev` as a real process tree, the way a developer does."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from passage.cli.embedded import free_port_block
from passage.devkeys import key_paths, mint_token


@dataclass
class DevStack:
    data_dir: Path
    proc: subprocess.Popen[bytes]
    output: Path
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def gateway(self) -> str:
        return str(self.info["gateway"])

    def service(self, name: str) -> str:
        return str(self.info["services"][name])

    def token(self, agency: str = "demo-agency", roles: tuple[str, ...] = ("case_worker",), **kw: Any) -> str:
        return mint_token(key_paths(self.data_dir)[0], agency=agency, roles=roles, **kw)

    def descendants(self) -> list[psutil.Process]:
        with contextlib.suppress(psutil.NoSuchProcess):
            return psutil.Process(self.proc.pid).children(recursive=True)
        return []


def dev_env(database_url: str | None) -> dict[str, str]:
    """The caller's environment; external servers only when the test run itself uses them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASSAGE_")}
    if database_url:
        env["PASSAGE_DATABASE_URL"] = database_url
    if os.environ.get("PASSAGE_NATS_URL"):
        env["PASSAGE_NATS_URL"] = os.environ["PASSAGE_NATS_URL"]
        # The same NATS as this test session: keep this run's streams and consumers apart.
        env["PASSAGE_NATS_NAMESPACE"] = f"dev{uuid.uuid4().hex[:8]}"
    return env


def start(data_dir: Path, env: dict[str, str], *, demo: bool = False, timeout: float = 150) -> DevStack:
    port_base = free_port_block(5)
    output = data_dir.parent / f"{data_dir.name}-passage-dev.out"
    argv = [
        sys.executable,
        "-m",
        "passage",
        "dev",
        "--data-dir",
        str(data_dir),
        "--port-base",
        str(port_base),
    ]
    if demo:
        argv.append("--demo")
    with output.open("ab") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    stack = DevStack(data_dir=data_dir, proc=proc, output=output)
    deadline = time.monotonic() + timeout
    dev_json = data_dir / "dev.json"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"passage dev exited with {proc.returncode}:\n{output.read_text()}")
        if dev_json.exists():
            info = json.loads(dev_json.read_text())
            if info.get("pid") == proc.pid:
                stack.info = info
                _wait_ready(stack)
                return stack
        time.sleep(0.2)
    stop(stack)
    raise AssertionError(f"passage dev not ready in {timeout}s:\n{output.read_text()}")


def _wait_ready(stack: DevStack) -> None:
    urls = [stack.gateway.removesuffix("/graphql"), *stack.info["services"].values()]
    with httpx.Client(timeout=2) as http:
        for url in urls:
            assert http.get(f"{url}/ready").status_code == 200, url


def stop(stack: DevStack, sig: signal.Signals = signal.SIGTERM, timeout: float = 60) -> int:
    if stack.proc.poll() is None:
        stack.proc.send_signal(sig)
    return stack.proc.wait(timeout)


def wait_gone(processes: list[psutil.Process], timeout: float = 30) -> list[psutil.Process]:
    """The processes still alive (zombies count as gone) after `timeout`."""
    deadline = time.monotonic() + timeout
    alive = processes
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _alive(p)]
        if alive:
            time.sleep(0.2)
    return alive


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@contextlib.contextmanager
def running_dev(data_dir: Path, env: dict[str, str], *, demo: bool = False) -> Iterator[DevStack]:
    stack = start(data_dir, env, demo=demo)
    try:
        yield stack
    finally:
        stop(stack)
