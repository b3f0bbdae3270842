"""Text rules every gateway aggregate applies to names and free text (Seqera's limits). Pure."""

from __future__ import annotations

import re

from libs.contracts.errors import InvalidInput

NAME = re.compile(r"^[a-zA-Z\d](?:[a-zA-Z\d]|[-_](?=[a-zA-Z\d])){1,38}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def check_name(value: str, what: str) -> None:
    """Seqera's name rule: 2-39 letters, digits, single dashes or underscores between them."""
    if not NAME.match(value):
        raise InvalidInput(f"Invalid {what} name '{value}': use 2-39 letters, digits, '-' or '_' "
                           "(not at either end, not twice in a row)")


def check_text(value: str | None, what: str, limit: int = 100) -> None:
    if value is not None and len(value) > limit:
        raise InvalidInput(f"{what} is longer than {limit} characters")
