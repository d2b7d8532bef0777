"""`passage audit verify [--data-dir DIR]`: exits 1 if any audit record was edited or removed."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

import asyncpg

from gateway.audit.verify import Verification, verify_chain
from passage.db import asyncpg_dsn
from passage.settings import Settings


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="audit_command", required=True)
    verify = sub.add_parser("verify", help="check the hash chain of the gateway's audit log")
    verify.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="a `passage dev` data folder (its dev.json names the database); default: PASSAGE_DATABASE_URL",
    )


def database_url(data_dir: Path | None) -> str:
    if data_dir is not None:
        info = json.loads((data_dir / "dev.json").read_text())
        return str(info["database_url"])
    if not os.environ.get("PASSAGE_DATABASE_URL"):
        raise ValueError("set PASSAGE_DATABASE_URL, or pass --data-dir of a `passage dev` folder")
    return _url_only()


def _url_only() -> str:
    # Only the database URL is needed: do not demand the production secrets of a server process.
    return Settings(env="dev", database_url=os.environ["PASSAGE_DATABASE_URL"]).database_url


async def verify_database(url: str) -> Verification:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await verify_chain(conn)
    finally:
        await conn.close()


def run(args: argparse.Namespace) -> int:
    try:
        url = database_url(args.data_dir)
    except (OSError, ValueError, KeyError) as exc:
        print(f"passage audit verify: {exc}", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(verify_database(url))
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"passage audit verify: cannot read the audit log: {exc}", file=sys.stderr)
        return 2
    if result.intact:
        print(f"audit log intact: {result.records} records, chain head at {result.head_seq}")
        return 0
    print(
        f"audit log TAMPERED: {len(result.problems)} problem(s) in {result.records} records", file=sys.stderr
    )
    for problem in result.problems:
        print(f"  - {problem}", file=sys.stderr)
    return 1
