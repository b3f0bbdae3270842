"""Name reservations: a name unique across streams (a user name, a studio name in its workspace) is a stream of
its own, ``<category>-<key>``, holding ``NameReserved`` and ``NameReleased`` events (DESIGN §2)."""

from __future__ import annotations

import unicodedata
from typing import ClassVar

from pydantic import AwareDatetime

from libs.contracts.events import Event, registry


def fold(key: str) -> str:
    """The one comparison of names, for every kind of reservation: Unicode compatibility form, then case folded
    (``"Straße"``, ``"STRASSE"`` and ``"strasse"`` are one name). ``libs.eventstore.reservations`` folds every key
    itself, so no caller can forget it or fold differently; ids inside a key (a workspace id) are digits."""
    return unicodedata.normalize("NFKC", key).casefold()


@registry.register
class NameReserved(Event):
    event_type = "NameReserved"
    category: ClassVar[str] = "*"  # the reservation's: username, orgname, studioname, ...
    owner: str  # the stream that holds the name
    at: AwareDatetime


@registry.register
class NameReleased(Event):
    event_type = "NameReleased"
    category: ClassVar[str] = "*"
    owner: str
    at: AwareDatetime
