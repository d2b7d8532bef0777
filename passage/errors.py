"""One error hierarchy, rendered as RFC 9457 `application/problem+json`.

Expected business errors are 4xx with a message a partner developer can act on; anything
else is a 500 whose detail never leaks internals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from asyncpg.exceptions import CannotConnectNowError, PostgresConnectionError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"

log = structlog.get_logger(__name__)


class PassageError(Exception):
    """Base of every error Passage means to report to a caller."""

    status_code: int = 500
    slug: str = "internal-error"
    title: str = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors) if errors else None
        self.headers = dict(headers) if headers else None
        self.extensions = extensions


class BadRequest(PassageError):
    status_code, slug, title = 400, "bad-request", "Bad request"


class Unauthenticated(PassageError):
    status_code, slug, title = 401, "unauthenticated", "Authentication required"

    def __init__(self, detail: str, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        super().__init__(detail, **kwargs)


class Forbidden(PassageError):
    status_code, slug, title = 403, "forbidden", "Forbidden"


class NotFound(PassageError):
    status_code, slug, title = 404, "not-found", "Not found"


class Conflict(PassageError):
    status_code, slug, title = 409, "conflict", "Conflict"


class PreconditionFailed(PassageError):
    status_code, slug, title = 412, "precondition-failed", "Precondition failed"


class Unprocessable(PassageError):
    status_code, slug, title = 422, "validation-error", "Request is not valid"


class ServiceUnavailable(PassageError):
    status_code, slug, title = 503, "unavailable", "Service unavailable"


def problem_type(slug: str) -> str:
    return f"urn:passage:problem:{slug}"


def problem_body(
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    instance: str | None = None,
    errors: Sequence[Mapping[str, Any]] | None = None,
    **extensions: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": problem_type(slug), "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = list(errors)
    body.update(extensions)
    return body


def problem_response(body: dict[str, Any], headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_JSON, headers=headers)


def _field_path(loc: Sequence[Any]) -> str:
    # FastAPI locations look like ("body", "birth_year") or ("query", "limit").
    return ".".join(str(part) for part in loc)


def error_response(error: PassageError, request_path: str) -> JSONResponse:
    body = problem_body(
        status=error.status_code,
        slug=error.slug,
        title=error.title,
        detail=error.detail,
        instance=request_path,
        errors=error.errors,
        **error.extensions,
    )
    return problem_response(body, error.headers)


async def _passage_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PassageError)
    return error_response(exc, request.url.path)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field_path(err.get("loc", ())), "message": err.get("msg", ""), "code": err.get("type", "")}
        for err in exc.errors()
    ]
    fields = ", ".join(e["field"] for e in errors[:5])
    body = problem_body(
        status=422,
        slug=Unprocessable.slug,
        title=Unprocessable.title,
        detail=f"Some fields are not valid: {fields}" if fields else "The request is not valid",
        instance=request.url.path,
        errors=errors,
    )
    return problem_response(body)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug = {404: "not-found", 405: "method-not-allowed", 401: "unauthenticated"}.get(
        exc.status_code, "http-error"
    )
    detail = exc.detail if isinstance(exc.detail, str) else "Request refused"
    body = problem_body(
        status=exc.status_code, slug=slug, title=detail, detail=detail, instance=request.url.path
    )
    return problem_response(body, exc.headers)


def is_unavailable(exc: BaseException) -> bool:
    """A dependency (the database) cannot be reached right now: the caller should retry."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, ConnectionError | TimeoutError | PostgresConnectionError | CannotConnectNowError)


def unexpected_error_response(exc: Exception, request_path: str) -> JSONResponse:
    """The answer to an exception no route meant to raise: 503 when a dependency is away, else 500."""
    if is_unavailable(exc):
        log.warning("dependency_unavailable", path=request_path, error=f"{type(exc).__name__}: {exc}"[:300])
        return error_response(
            ServiceUnavailable(
                "A dependency of this service is not reachable right now; retry shortly",
                headers={"Retry-After": "2"},
            ),
            request_path,
        )
    log.error("unhandled_error", path=request_path, exc_info=exc)
    return error_response(
        PassageError("An unexpected error occurred; it has been logged with this request's id"), request_path
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PassageError, _passage_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Anything else is answered by the request middleware (passage.web), with the request id.
