"""Studio name and description rules (Seqera's ``DataStudioCreateRequest`` limits).

Uniqueness in a workspace is not checked here: it is a reservation stream (``studioname-<workspace>:<name>``)
appended in the same transaction by the handler. This module only says whether a name is well formed.
"""

from __future__ import annotations

import re

from libs.contracts.errors import InvalidInput

NAME_MAX = 80
DESCRIPTION_MAX = 2048
# Letters, digits, '-' and '_': names become parts of stream names, process names and URLs, so no spaces.
_NAME = re.compile(r"[A-Za-z0-9_-]+")


def validate_name(name: str) -> str:
    if name != name.strip():
        raise InvalidInput("Studio name must not start or end with whitespace", field="name")
    if not 1 <= len(name) <= NAME_MAX:
        raise InvalidInput(f"Studio name must be 1 to {NAME_MAX} characters long", field="name")
    if not _NAME.fullmatch(name):
        raise InvalidInput("Studio name may contain only letters, digits, '-' and '_'", field="name", value=name)
    return name


def validate_description(description: str | None) -> str | None:
    if description is not None and len(description) > DESCRIPTION_MAX:
        raise InvalidInput(f"Studio description must be at most {DESCRIPTION_MAX} characters long", field="description")
    return description
