"""Every query of the notifications tables. Who may see what is decided in the `readable_*` methods."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, or_, tuple_
from sqlalchemy.dialects.postgresql import array, insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from passage.auth import AuthSubject, Role
from services.notifications.models import (
    AgencyPreferences,
    Delivery,
    InAppNotification,
    NotificationRead,
    Recipient,
    WebhookEndpoint,
)

WAKE_CHANNEL = "passage_notifications_deliveries"
Cursor = tuple[datetime, uuid.UUID]


def _reads_all(subject: AuthSubject) -> bool:
    return Role.SERVICE.value in subject.roles


class NotificationRepository:
    """In-app notices and their per-person read state."""

    def readable(self, subject: AuthSubject) -> SelectOfScalar[InAppNotification]:
        """Notices for the caller: its own, and its agency's meant for everyone or for a role it holds."""
        n = InAppNotification
        return select(n).where(
            n.recipient_agency == subject.agency,
            or_(
                col(n.recipient_user) == subject.sub,
                sa.and_(
                    col(n.recipient_user).is_(None),
                    or_(
                        col(n.recipient_roles).is_(None),
                        col(n.recipient_roles).has_any(array(sorted(subject.roles))),  # type: ignore[attr-defined]
                    ),
                ),
            ),
        )

    async def page(
        self, session: AsyncSession, subject: AuthSubject, *, limit: int, before: Cursor | None
    ) -> Sequence[tuple[InAppNotification, datetime | None]]:
        n = InAppNotification
        query = self.readable(subject)
        if before is not None:
            query = query.where(tuple_(col(n.created_at), col(n.id)) < tuple_(*before))
        sub = query.order_by(col(n.created_at).desc(), col(n.id).desc()).limit(limit).subquery()
        alias = sa.orm.aliased(n, sub)
        joined = (
            sa.select(alias, col(NotificationRead.read_at))
            .outerjoin(
                NotificationRead,
                sa.and_(
                    col(NotificationRead.notification_id) == sub.c.id,
                    col(NotificationRead.user_sub) == subject.sub,
                ),
            )
            .order_by(sub.c.created_at.desc(), sub.c.id.desc())
        )
        return [(row[0], row[1]) for row in (await session.execute(joined)).all()]

    async def after(
        self, session: AsyncSession, subject: AuthSubject, *, after: Cursor | None, limit: int
    ) -> Sequence[InAppNotification]:
        """The caller's notices newer than `after`, oldest first (the live feed)."""
        n = InAppNotification
        query = self.readable(subject)
        if after is not None:
            query = query.where(tuple_(col(n.created_at), col(n.id)) > tuple_(*after))
        query = query.order_by(col(n.created_at), col(n.id)).limit(limit)
        return (await session.exec(query)).all()

    async def position(
        self, session: AsyncSession, subject: AuthSubject, notification_id: uuid.UUID
    ) -> Cursor | None:
        row = (
            await session.exec(self.readable(subject).where(InAppNotification.id == notification_id))
        ).first()
        return (row.created_at, row.id) if row else None

    async def latest(self, session: AsyncSession, subject: AuthSubject) -> Cursor | None:
        n = InAppNotification
        row = (
            await session.exec(
                self.readable(subject).order_by(col(n.created_at).desc(), col(n.id).desc()).limit(1)
            )
        ).first()
        return (row.created_at, row.id) if row else None

    async def record(self, session: AsyncSession, notification: InAppNotification) -> bool:
        """Insert unless this event already gave this recipient its notice; True when inserted."""
        result = await session.exec(
            insert(InAppNotification)
            .values(**notification.model_dump())
            .on_conflict_do_nothing()
            .returning(col(InAppNotification.id))
        )
        return result.first() is not None

    async def mark_read(
        self, session: AsyncSession, subject: AuthSubject, ids: Sequence[uuid.UUID] | None, at: datetime
    ) -> int:
        n = InAppNotification
        visible = self.readable(subject).with_only_columns(col(n.id), sa.literal(subject.sub), sa.literal(at))
        if ids is not None:
            visible = visible.where(col(n.id).in_(list(ids)))
        statement = (
            insert(NotificationRead)
            .from_select(["notification_id", "user_sub", "read_at"], visible)
            .on_conflict_do_nothing()
            .returning(col(NotificationRead.notification_id))
        )
        return len((await session.exec(statement)).all())


class RecipientRepository:
    """Staff who may be told things, and agencies' defaults."""

    def readable(self, subject: AuthSubject) -> SelectOfScalar[Recipient]:
        query = select(Recipient)
        return query if _reads_all(subject) else query.where(Recipient.agency_id == subject.agency)

    async def get(
        self, session: AsyncSession, subject: AuthSubject, recipient_id: uuid.UUID
    ) -> Recipient | None:
        return (await session.exec(self.readable(subject).where(Recipient.id == recipient_id))).first()

    async def get_by_sub(self, session: AsyncSession, agency: str, sub: str) -> Recipient | None:
        query = select(Recipient).where(Recipient.agency_id == agency, Recipient.user_sub == sub)
        return (await session.exec(query)).first()

    async def by_id(self, session: AsyncSession, recipient_id: uuid.UUID) -> Recipient | None:
        return await session.get(Recipient, recipient_id)

    async def by_ids(self, session: AsyncSession, ids: Collection[uuid.UUID]) -> Sequence[Recipient]:
        if not ids:
            return []
        return (await session.exec(select(Recipient).where(col(Recipient.id).in_(list(ids))))).all()

    async def page(
        self,
        session: AsyncSession,
        subject: AuthSubject,
        *,
        limit: int,
        before: Cursor | None,
        role: str | None,
    ) -> Sequence[Recipient]:
        r = Recipient
        query = self.readable(subject)
        if role is not None:
            query = query.where(col(r.roles).has_any(array([role])))  # type: ignore[attr-defined]
        if before is not None:
            query = query.where(tuple_(col(r.created_at), col(r.id)) < tuple_(*before))
        query = query.order_by(col(r.created_at).desc(), col(r.id).desc()).limit(limit)
        return (await session.exec(query)).all()

    async def add(self, session: AsyncSession, recipient: Recipient) -> bool:
        result = await session.exec(
            insert(Recipient)
            .values(**recipient.model_dump())
            .on_conflict_do_nothing()
            .returning(col(Recipient.id))
        )
        return result.first() is not None

    async def change(self, session: AsyncSession, recipient: Recipient, values: dict[str, Any]) -> Recipient:
        for key, value in values.items():
            setattr(recipient, key, value)
        session.add(recipient)
        await session.flush()
        return recipient

    async def remove(self, session: AsyncSession, recipient: Recipient) -> None:
        await session.delete(recipient)
        await session.flush()

    async def with_roles(
        self, session: AsyncSession, agency: str, roles: frozenset[str] | None
    ) -> Sequence[Recipient]:
        query = select(Recipient).where(Recipient.agency_id == agency, col(Recipient.active).is_(True))
        if roles is not None:
            query = query.where(col(Recipient.roles).has_any(array(sorted(roles))))  # type: ignore[attr-defined]
        return (await session.exec(query.order_by(col(Recipient.user_sub)))).all()

    async def agency_preferences(self, session: AsyncSession, agency: str) -> AgencyPreferences | None:
        return await session.get(AgencyPreferences, agency)

    async def save_agency_preferences(
        self, session: AsyncSession, prefs: AgencyPreferences
    ) -> AgencyPreferences:
        values = prefs.model_dump()
        statement = insert(AgencyPreferences).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["agency_id"], set_={k: v for k, v in values.items() if k != "agency_id"}
        )
        await session.exec(statement)
        return prefs


class WebhookRepository:
    def readable(self, subject: AuthSubject) -> SelectOfScalar[WebhookEndpoint]:
        query = select(WebhookEndpoint)
        return query if _reads_all(subject) else query.where(WebhookEndpoint.agency_id == subject.agency)

    async def get(
        self, session: AsyncSession, subject: AuthSubject, endpoint_id: uuid.UUID
    ) -> WebhookEndpoint | None:
        return (await session.exec(self.readable(subject).where(WebhookEndpoint.id == endpoint_id))).first()

    async def by_id(
        self, session: AsyncSession, endpoint_id: uuid.UUID, *, lock: bool = False
    ) -> WebhookEndpoint | None:
        query = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
        if lock:
            query = query.with_for_update()
        return (await session.exec(query)).first()

    async def by_ids(
        self, session: AsyncSession, ids: Collection[uuid.UUID], *, lock: bool = False
    ) -> Sequence[WebhookEndpoint]:
        """Several endpoints; with `lock`, row locks taken in id order (no deadlock between batches)."""
        if not ids:
            return []
        w = WebhookEndpoint
        query = select(w).where(col(w.id).in_(list(ids))).order_by(col(w.id))
        if lock:
            query = query.with_for_update()
        return (await session.exec(query)).all()

    async def page(
        self, session: AsyncSession, subject: AuthSubject, *, limit: int, before: Cursor | None
    ) -> Sequence[WebhookEndpoint]:
        w = WebhookEndpoint
        query = self.readable(subject)
        if before is not None:
            query = query.where(tuple_(col(w.created_at), col(w.id)) < tuple_(*before))
        return (
            await session.exec(query.order_by(col(w.created_at).desc(), col(w.id).desc()).limit(limit))
        ).all()

    async def add(self, session: AsyncSession, endpoint: WebhookEndpoint) -> None:
        session.add(endpoint)
        await session.flush()

    async def save(self, session: AsyncSession, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        session.add(endpoint)
        await session.flush()
        return endpoint

    async def remove(self, session: AsyncSession, endpoint: WebhookEndpoint) -> None:
        await session.delete(endpoint)
        await session.flush()

    async def subscribed(
        self, session: AsyncSession, agency: str, event_type: str
    ) -> Sequence[WebhookEndpoint]:
        w = WebhookEndpoint
        query = select(w).where(
            w.agency_id == agency,
            col(w.enabled).is_(True),
            col(w.event_types).contains([event_type]),
        )
        return (await session.exec(query)).all()


class DeliveryRepository:
    def readable(self, subject: AuthSubject) -> SelectOfScalar[Delivery]:
        query = select(Delivery)
        return query if _reads_all(subject) else query.where(Delivery.agency_id == subject.agency)

    async def get(
        self, session: AsyncSession, subject: AuthSubject, delivery_id: uuid.UUID
    ) -> Delivery | None:
        return (await session.exec(self.readable(subject).where(Delivery.id == delivery_id))).first()

    async def page(
        self,
        session: AsyncSession,
        subject: AuthSubject,
        *,
        limit: int,
        before: Cursor | None,
        state: str | None,
        endpoint_id: uuid.UUID | None,
    ) -> Sequence[Delivery]:
        d = Delivery
        query = self.readable(subject)
        if state is not None:
            query = query.where(d.state == state)
        if endpoint_id is not None:
            query = query.where(d.endpoint_id == endpoint_id)
        if before is not None:
            query = query.where(tuple_(col(d.created_at), col(d.id)) < tuple_(*before))
        return (
            await session.exec(query.order_by(col(d.created_at).desc(), col(d.id).desc()).limit(limit))
        ).all()

    async def plan(self, session: AsyncSession, delivery: Delivery) -> bool:
        """Insert unless this event already has a delivery for this recipient; wakes the worker on commit."""
        result = await session.exec(
            insert(Delivery)
            .values(**delivery.model_dump())
            .on_conflict_do_nothing()
            .returning(col(Delivery.id))
        )
        inserted = result.first() is not None
        if inserted:
            await self.wake(session)
        return inserted

    async def plan_many(self, session: AsyncSession, deliveries: Sequence[dict[str, Any]]) -> int:
        """`plan` for several rows (`models.new_delivery_row`) in one statement; returns how many were new."""
        if not deliveries:
            return 0
        # executemany of one cached statement (a multi-row VALUES would be compiled every time)
        statement = insert(Delivery).on_conflict_do_nothing().returning(col(Delivery.id))
        result = await session.execute(statement, list(deliveries))
        inserted = len(result.all())
        if inserted:
            await self.wake(session)
        return inserted

    async def wake(self, session: AsyncSession) -> None:
        await session.exec(sa.select(func.pg_notify(WAKE_CHANNEL, "")))  # type: ignore[call-overload]

    async def claim_due(self, session: AsyncSession, *, limit: int, lease: timedelta) -> Sequence[Delivery]:
        """Take up to `limit` due deliveries (and any whose sender died mid-send) for this worker."""
        d = Delivery
        now = func.clock_timestamp()
        due = (
            select(d.id)
            .where(
                or_(
                    sa.and_(col(d.state).in_(("pending", "retrying")), col(d.next_attempt_at) <= now),
                    sa.and_(col(d.state) == "sending", col(d.lease_until) < now),
                )
            )
            .order_by(col(d.next_attempt_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        statement = (
            sa.update(d)
            .where(col(d.id).in_(due.scalar_subquery()))
            .values(state="sending", lease_until=now + lease)
            .returning(d)
        )
        rows = (await session.execute(sa.select(d).from_statement(statement))).scalars().all()
        return rows

    async def lock_many(self, session: AsyncSession, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Delivery]:
        """Row locks on several deliveries, taken in id order (no deadlock between batches)."""
        if not ids:
            return {}
        d = Delivery
        query = select(d).where(col(d.id).in_(list(ids))).order_by(col(d.id)).with_for_update()
        return {row.id: row for row in (await session.exec(query)).all()}

    async def next_due(self, session: AsyncSession) -> datetime | None:
        """When the earliest waiting delivery falls due (retries, quiet hours), if any."""
        d = Delivery
        query = select(func.min(d.next_attempt_at)).where(col(d.state).in_(("pending", "retrying")))
        return (await session.exec(query)).one()

    async def lock(self, session: AsyncSession, delivery_id: uuid.UUID) -> Delivery | None:
        return (
            await session.exec(select(Delivery).where(Delivery.id == delivery_id).with_for_update())
        ).first()

    async def save(self, session: AsyncSession, delivery: Delivery) -> Delivery:
        session.add(delivery)
        await session.flush()
        return delivery

    async def dead_letter_open_for_endpoint(
        self, session: AsyncSession, endpoint_id: uuid.UUID, reason: str
    ) -> int:
        d = Delivery
        statement = (
            sa.update(d)
            .where(col(d.endpoint_id) == endpoint_id, col(d.state).in_(("pending", "retrying")))
            .values(state="dead_lettered", last_error=reason, next_attempt_at=None, updated_at=func.now())
            .returning(col(d.id))
        )
        return len((await session.execute(statement)).all())

    async def due_count(self, session: AsyncSession) -> int:
        d = Delivery
        query = (
            select(func.count()).select_from(d).where(col(d.state).in_(("pending", "retrying", "sending")))
        )
        return int((await session.exec(query)).one())
