from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum

from pydantic import field_validator
from sqlalchemy import Column, DateTime, String
from sqlmodel import Field, SQLModel

from passage.text import SingleLine

SCHEMA = "intake"


def _now() -> datetime:
    return datetime.now(UTC)


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    INTERSEX = "intersex"
    UNKNOWN = "unknown"


class ClientBase(SQLModel):
    given_name: SingleLine = Field(min_length=1, max_length=200, description="Data category: identity")
    family_name: SingleLine = Field(min_length=1, max_length=200, description="Data category: identity")
    birth_year: int = Field(ge=1900, le=2100, description="Data category: demographics")
    sex: Sex = Field(description="Data category: demographics")

    @field_validator("given_name", "family_name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be blank")
        return value

    @field_validator("birth_year")
    @classmethod
    def _not_in_future(cls, value: int) -> int:
        if value > date.today().year:
            raise ValueError("must not be in the future")
        return value


class ClientCreate(ClientBase):
    pass


class Client(ClientBase, table=True):
    __tablename__ = "clients"
    __table_args__ = {"schema": SCHEMA}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # Stored as its value in plain text, not as a PostgreSQL enum type that every new code would migrate.
    sex: Sex = Field(sa_type=String(20))
    agency_id: str = Field(index=True, max_length=100)
    registered_by: str = Field(max_length=200)
    created_at: datetime = Field(
        default_factory=_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class ClientPublic(ClientBase):
    id: uuid.UUID
    agency_id: str
    created_at: datetime
