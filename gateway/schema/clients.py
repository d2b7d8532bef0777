# mypy: disable-error-code="untyped-decorator,no-any-return"
"""Clients through the policy decision point: fetched on the gateway's identity, decided per
category, withheld fields nulled and listed in `extensions.policy`, every read audited."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from gateway.context import GatewayContext
from gateway.errors import from_upstream, gql_error
from gateway.policy.fields import redact
from gateway.policy.pdp import Refusal
from gateway.policy.roles import AccessLevel, access_level
from gateway.services import UpstreamError

# GraphQL field -> the representation's key.
PERSONAL_FIELDS: dict[str, tuple[str, Any]] = {
    "given_name": ("given_name", str | None),
    "family_name": ("family_name", str | None),
    "other_names": ("other_names", JSON | None),
    "birth_date": ("birth_date", str | None),
    "birth_year": ("birth_year", int | None),
    "sex": ("sex", str | None),
    "gender": ("gender", str | None),
    "nationality": ("nationality", str | None),
    "area": ("area", JSON | None),
    "phone": ("phone", str | None),
    "email": ("email", str | None),
    "preferred_contact_channel": ("preferred_contact_channel", str | None),
    "preferred_language": ("preferred_language", str | None),
    "interpreter_needed": ("interpreter_needed", bool | None),
    "migration_phase": ("migration_phase", str | None),
    "vulnerabilities": ("vulnerabilities", list[str] | None),
    "identity_documents": ("identity_documents", JSON | None),
    "sensitive": ("sensitive", bool | None),
    "sensitivity_reasons": ("sensitivity_reasons", list[str] | None),
}


def _personal(key: str, graphql_type: Any) -> Any:
    def resolve(root: Client, info: Info[GatewayContext, None]) -> Any:
        withheld = root.withheld.get(key)
        if withheld is not None:
            info.context.policy.append(
                {"path": list(info.path.as_list()), "category": withheld[0], "reason": withheld[1]}
            )
            return None
        return root.values.get(key)

    return strawberry.field(resolver=resolve, graphql_type=graphql_type)


def _client_type() -> type:
    namespace: dict[str, Any] = {
        "__annotations__": {
            "id": strawberry.ID,
            "agency_id": str,
            "status": str,
            "version": int | None,
            "created_at": str | None,
            "updated_at": str | None,
            "values": strawberry.Private[dict[str, Any]],
            "withheld": strawberry.Private[dict[str, tuple[str, str]]],
        },
        "__doc__": "A person registered by an agency. Fields the policy withholds from you are null; "
        "`extensions.policy` lists each with its data category and the reason.",
    }
    for name, (key, graphql_type) in PERSONAL_FIELDS.items():
        namespace[name] = _personal(key, graphql_type)
    return strawberry.type(type("Client", (), namespace))


Client: Any = _client_type()


def parse_id(raw: Any, what: str = "client") -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise gql_error(f"{str(raw)[:60]!r} is not a {what} id (a UUID)", "BAD_USER_INPUT") from None


def refuse(
    ctx: GatewayContext, client_id: uuid.UUID | None, code: str, message: str, **detail: Any
) -> Exception:
    """Audit the refusal (flushed with the request) and return the error to raise."""
    ctx.entry(action="read_client", outcome="refused", client_id=client_id, detail={"code": code, **detail})
    return gql_error(message, code)


def check_client_level_access(ctx: GatewayContext, client_id: uuid.UUID | None) -> None:
    """Refusals that do not depend on the client (so they reveal nothing about it)."""
    caller = ctx.require_caller()
    if caller.purpose.value == "statistics":
        raise refuse(
            ctx, client_id, "FORBIDDEN", "The statistics purpose serves aggregates only, never a client"
        )
    if access_level(caller.subject.roles, caller.subject.scopes) is AccessLevel.NONE:
        raise refuse(
            ctx, client_id, "FORBIDDEN", "Your role receives aggregate statistics only, no client-level data"
        )


async def release_client(ctx: GatewayContext, record: dict[str, Any] | None, client_id: uuid.UUID) -> Any:
    """Decide, audit and redact one client representation."""
    if record is None:
        raise refuse(ctx, client_id, "NOT_FOUND", f"No client {client_id}")
    decision = await ctx.facts.decide(record)
    if decision.refusal is Refusal.FORBIDDEN:
        reason = next(iter(decision.withheld.values()))
        raise refuse(ctx, client_id, "FORBIDDEN", reason.detail, rule=decision.rule.value)
    if decision.refusal is Refusal.NOT_FOUND:
        # Say nothing about the client's existence to someone who may not know of it.
        ctx.entry(
            action="read_client",
            outcome="refused",
            client_id=client_id,
            withheld={c: w.reason.value for c, w in sorted(decision.withheld.items())},
            basis=decision.basis(),
            detail={"code": "NOT_FOUND"},
        )
        raise gql_error(f"No client {client_id}", "NOT_FOUND")
    labels = ctx.runtime.labels
    await labels.ensure(ctx.runtime.services.as_service["intake"])
    visible, withheld = redact(record, decision, labels)
    ctx.entry(
        action="read_client",
        outcome="released" if not withheld else "partial",
        client_id=client_id,
        released=tuple(sorted(decision.released)),
        withheld={c: w.reason.value for c, w in sorted(decision.withheld.items())},
        basis=decision.basis(),
    )
    return Client(
        id=strawberry.ID(str(record["id"])),
        agency_id=str(record.get("agency_id", "")),
        status=str(record.get("status", "")),
        version=record.get("version"),
        created_at=record.get("created_at"),
        updated_at=record.get("updated_at"),
        values=visible,
        withheld={w.path: (w.category, w.reason) for w in withheld},
    )


async def load_client(ctx: GatewayContext, client_id: uuid.UUID) -> Any:
    check_client_level_access(ctx, client_id)
    caller = ctx.require_caller()
    if caller.purpose.value == "emergency" and await ctx.facts.grant(client_id) is None:
        # Checked before looking the client up: the answer is the same whether it exists or not.
        raise refuse(
            ctx,
            client_id,
            "FORBIDDEN",
            "Emergency access needs your own open break-glass window for this client",
        )
    try:
        record = await ctx.facts.clients.load(client_id)
    except UpstreamError as exc:
        raise from_upstream(exc) from None
    return await release_client(ctx, record, client_id)


@strawberry.input(description="Filters of the caller's own agency's client list.")
class ClientFilter:
    status: str | None = None
    q: str | None = strawberry.field(default=None, description="Search in names (intake decides how)")
