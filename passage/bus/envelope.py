"""CloudEvents 1.0 envelopes in binary content mode: attributes in NATS headers, data as JSON.

Each event's data is a versioned pydantic model (`EventData`); its type doubles as the NATS
subject `<service>.<entity>.<event>`.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, ConfigDict

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"


class EventData(BaseModel):
    """The payload of one event type. Subclasses set `event_type` and `version`.

    Payloads carry ids and the minimum a consumer needs, never free-text personal data.
    Readers ignore fields they do not know, so a producer may add fields within a version.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    version: ClassVar[int] = 1
    catalogue: ClassVar[dict[str, type[EventData]]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "event_type" in cls.__dict__:
            existing = EventData.catalogue.get(cls.event_type)
            if existing is not None and existing is not cls:
                raise TypeError(f"event type {cls.event_type} is defined twice")
            EventData.catalogue[cls.event_type] = cls

    @classmethod
    def dataschema(cls) -> str:
        return f"urn:passage:event:{cls.event_type}:v{cls.version}"

    @classmethod
    def service(cls) -> str:
        return cls.event_type.split(".", 1)[0]


E = TypeVar("E", bound=EventData)


@dataclass(frozen=True, slots=True)
class CloudEvent:
    id: uuid.UUID
    type: str
    source: str
    time: datetime
    subject: str | None
    dataschema: str
    data: bytes

    @classmethod
    def wrap(cls, data: EventData, *, source: str, subject: str | None = None) -> Self:
        return cls(
            id=uuid.uuid4(),
            type=data.event_type,
            source=source,
            time=datetime.now(UTC),
            subject=subject,
            dataschema=data.dataschema(),
            data=data.model_dump_json().encode(),
        )

    def headers(self) -> dict[str, str]:
        headers = {
            "ce-specversion": SPEC_VERSION,
            "ce-id": str(self.id),
            "ce-source": self.source,
            "ce-type": self.type,
            "ce-time": self.time.isoformat(),
            "ce-dataschema": self.dataschema,
            "content-type": CONTENT_TYPE,
            # JetStream drops a second publish with the same id within the duplicate window.
            "Nats-Msg-Id": str(self.id),
        }
        if self.subject:
            headers["ce-subject"] = self.subject
        return headers

    @classmethod
    def from_message(cls, headers: Mapping[str, str] | None, data: bytes) -> Self:
        h = headers or {}
        missing = [k for k in ("ce-id", "ce-type", "ce-source", "ce-time") if not h.get(k)]
        if missing:
            raise ValueError(f"not a CloudEvent: missing headers {', '.join(missing)}")
        if h.get("ce-specversion") != SPEC_VERSION:
            raise ValueError(f"unsupported CloudEvents specversion {h.get('ce-specversion')!r}")
        return cls(
            id=uuid.UUID(h["ce-id"]),
            type=h["ce-type"],
            source=h["ce-source"],
            time=datetime.fromisoformat(h["ce-time"]),
            subject=h.get("ce-subject"),
            dataschema=h.get("ce-dataschema", ""),
            data=data,
        )

    def parse(self, model: builtins.type[E]) -> E:
        """The data as `model`; a pydantic ValidationError means the event can never be handled."""
        return model.model_validate_json(self.data)
