"""Typed errors shared by services; each maps to an HTTP status and travels in command replies."""

from __future__ import annotations

from typing import Any, ClassVar


class StudiosError(Exception):
    """Base of every error a command may answer with. ``code`` is stable; ``status`` is the HTTP mapping."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str = "", **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "status": self.status, "title": self.title, "detail": self.detail, **self.extra}


class InvalidInput(StudiosError):
    code, status, title = "invalid", 400, "Invalid input"


class Unauthenticated(StudiosError):
    code, status, title = "unauthenticated", 401, "Authentication required"


class Forbidden(StudiosError):
    code, status, title = "forbidden", 403, "Forbidden"


class NotFound(StudiosError):
    code, status, title = "not_found", 404, "Not found"


class Conflict(StudiosError):
    code, status, title = "conflict", 409, "Conflict"


class Unavailable(StudiosError):
    code, status, title = "unavailable", 503, "Service unavailable"


_BY_CODE: dict[str, type[StudiosError]] = {
    c.code: c for c in (StudiosError, InvalidInput, Unauthenticated, Forbidden, NotFound, Conflict, Unavailable)
}


_BY_STATUS: dict[int, type[StudiosError]] = {c.status: c for c in _BY_CODE.values() if c is not StudiosError}


class RemoteError(StudiosError):
    """An error that crossed the bus: keeps the sender's code, status and title, whatever its class was there."""

    def __init__(self, detail: str, *, code: str, status: int, title: str, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.code, self.status, self.title = code, status, title  # type: ignore[misc]


def error_from_dict(d: dict[str, Any]) -> StudiosError:
    """Rebuild a typed error from a reply. A code this side does not know (a subclass such as ``name_taken``)
    keeps its own code and status rather than falling back to a 500."""
    extra = {k: v for k, v in d.items() if k not in {"code", "status", "title", "detail"}}
    code = str(d.get("code"))
    if code in _BY_CODE:
        return _BY_CODE[code](str(d.get("detail", "")), **extra)
    status = int(d.get("status") or 500)
    base = _BY_STATUS.get(status)
    if base is not None:
        err = base(str(d.get("detail", "")), **extra)
        err.code = code  # type: ignore[misc]
        return err
    return RemoteError(str(d.get("detail", "")), code=code, status=status, title=str(d.get("title", "")), **extra)
