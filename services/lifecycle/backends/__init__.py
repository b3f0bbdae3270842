"""Compute backends: the ``ComputeBackend`` port and its adapters (see DESIGN.md §5)."""

from services.lifecycle.backends.base import ComputeBackend, Handle, LaunchError, LaunchSpec, SessionState, Status
from services.lifecycle.backends.local import LocalBackend
from services.lifecycle.backends.tools import SECRET_HEADER, ToolUnavailable, build_command, proxy_headers

__all__ = [
    "SECRET_HEADER",
    "ComputeBackend",
    "Handle",
    "LaunchError",
    "LaunchSpec",
    "LocalBackend",
    "SessionState",
    "Status",
    "ToolUnavailable",
    "build_command",
    "proxy_headers",
]
