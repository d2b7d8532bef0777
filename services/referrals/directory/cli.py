"""`passage directory import FILE`: load an HSDS JSON dataset into the directory, as the operator.

Reads the database and NATS settings from the environment (PASSAGE_DATABASE_URL, ...); the events
it writes go out through the outbox when the referrals service runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from pydantic import ValidationError

from passage.errors import PassageError
from passage.settings import Settings
from services.referrals.directory.schemas import HsdsDataset


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="directory_command", required=True)
    imp = sub.add_parser("import", help="import an HSDS JSON dataset (all or nothing)")
    imp.add_argument("file", type=Path, help="the dataset: {organizations, services, locations, ...} as JSON")
    imp.add_argument("--dry-run", action="store_true", help="validate only")


def run(args: argparse.Namespace) -> int:
    try:
        raw = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    try:
        dataset = HsdsDataset.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors()[:50]:
            print(f"{'.'.join(map(str, err['loc']))}: {err['msg']}", file=sys.stderr)
        return 1
    return asyncio.run(_import(dataset, dry_run=args.dry_run))


async def _import(dataset: HsdsDataset, *, dry_run: bool) -> int:
    from passage.db import Database
    from services.referrals.directory.service import directory_importer

    db = Database(Settings(), application_name="passage-directory-import")
    try:
        async with db.sessionmaker() as session, session.begin():
            report = await directory_importer.run(session, dataset, importer=None, dry_run=dry_run)
    except PassageError as exc:
        print(exc.detail, file=sys.stderr)
        for err in exc.errors or []:
            print(
                f"  {err.get('field')} (record {err.get('record', '')}): {err.get('message')}",
                file=sys.stderr,
            )
        return 1
    finally:
        await db.dispose()
    print(json.dumps(report.model_dump()))
    return 0
