"""Optimistic concurrency over HTTP: `ETag` on reads, `If-Match` on updates.

A record carries an integer `version`, bumped by every change; its ETag is that number quoted
(`"7"`). An update must send `If-Match` with the ETag it read:
- a stale ETag (someone changed the record since) is refused with 412 Precondition Failed;
- no `If-Match` at all is refused with 428 Precondition Required, because an update without it
  would silently overwrite another person's change (RFC 6585, section 3);
- `If-Match: *` means "whatever the current version" and is accepted on purpose.

Compare the version under a row lock (`SELECT ... FOR UPDATE`), so two writers holding the same
ETag cannot both succeed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from passage.errors import BadRequest, PassageError, PreconditionFailed

IF_MATCH = "If-Match"


class PreconditionRequired(PassageError):
    status_code, slug, title = 428, "precondition-required", "Precondition required"


IfMatch = Annotated[
    str | None,
    Header(
        alias=IF_MATCH,
        max_length=200,
        description='The ETag you read (e.g. `"3"`). A stale one gets 412; none gets 428.',
    ),
]


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(header: str) -> set[int] | None:
    """The versions an `If-Match` header names; None for `*`."""
    versions: set[int] = set()
    for raw in header.split(","):
        tag = raw.strip()
        if tag == "*":
            return None
        if tag.startswith("W/"):
            tag = tag[2:]
        tag = tag.strip('"')
        if not tag.isdigit() or len(tag) > 18:
            raise BadRequest(
                f'{IF_MATCH} must hold an ETag this API gave out, like "3"',
                errors=[{"field": f"header.{IF_MATCH}", "message": "not an ETag of ours", "code": "invalid"}],
            )
        versions.add(int(tag))
    if not versions:
        raise BadRequest(f"{IF_MATCH} is empty")
    return versions


def check_if_match(header: str | None, current_version: int, *, required: bool = True) -> None:
    """Raise unless `header` matches `current_version` (see the module's rule)."""
    if header is None or not header.strip():
        if required:
            raise PreconditionRequired(
                f"Send {IF_MATCH} with the ETag you read, so that you do not overwrite a newer change",
                errors=[{"field": f"header.{IF_MATCH}", "message": "required on updates", "code": "missing"}],
            )
        return
    versions = parse_if_match(header)
    if versions is not None and current_version not in versions:
        raise PreconditionFailed(
            f"The record changed since you read it (it is now at version {current_version}); "
            "read it again and reapply your change",
            errors=[{"field": f"header.{IF_MATCH}", "message": "stale ETag", "code": "stale"}],
            current_version=current_version,
        )
