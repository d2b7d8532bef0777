"""Automatic persisted queries (APQ): a client sends the sha256 of a query it sent once before.
With `PASSAGE_GATEWAY_PERSISTED_ONLY=true` only queries already registered are accepted (a
production switch: ad-hoc queries are refused)."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import HTTPException

MAX_STORED = 5000


class PersistedQueries:
    def __init__(self, *, persisted_only: bool = False) -> None:
        self.persisted_only = persisted_only
        self._store: dict[str, str] = {}

    def register(self, query: str) -> str:
        digest = hashlib.sha256(query.encode()).hexdigest()
        if len(self._store) < MAX_STORED:
            self._store[digest] = query
        return digest

    def resolve(self, data: Any) -> Any:
        if isinstance(data, list):
            return [self.resolve(item) for item in data]
        persisted = (data.extensions or {}).get("persistedQuery")
        if not isinstance(persisted, dict):
            if self.persisted_only and data.query:
                raise HTTPException(400, "Only persisted queries are accepted here")
            return data
        digest = str(persisted.get("sha256Hash", ""))
        if data.query:
            if hashlib.sha256(data.query.encode()).hexdigest() != digest:
                raise HTTPException(400, "provided sha does not match query")
            if self.persisted_only and digest not in self._store:
                raise HTTPException(400, "Only persisted queries are accepted here")
            self.register(data.query)
            return data
        query = self._store.get(digest)
        if query is None:
            raise HTTPException(400, "PersistedQueryNotFound")
        data.query = query
        return data
