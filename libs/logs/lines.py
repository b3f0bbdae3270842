"""Log lines as they travel on JetStream ``LOGS`` (``studios.logs.<kind>.<id>``), and the 64 KiB split.

A line (JSON): ``{message, stream: stdout|stderr, source: user|system, createdAt, run, seq}`` plus ``kind``, ``id``
and, on the last line a producer sends for a run, ``final: true``. The line's key is ``(kind, id, run, source,
seq)``: ``seq`` grows strictly within one run and source (a tool's lines carry their byte offset in its output, so a
restarted reader numbers them the same; system lines a microsecond clock), which lets every consumer drop a repeat.

A message carries one line (the object) or several lines of its subject in their order (a JSON array of them,
``pack``): a producer packs what it has ready at once, so a tool printing as fast as it can costs JetStream a
message per few hundred lines instead of one per line (the per-message cost is what held ingestion below COPY's
pace, and what a fast tool's host spent beside it), while a tool printing now and then still sends each line as it
comes. Readers take both (``from_message``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from libs.contracts.subjects import LOGS_PREFIX

#: The longest message one line carries; a longer one is split into several lines, never dropped.
MAX_LINE_BYTES = 64 * 1024
STREAMS = ("stdout", "stderr")
SOURCES = ("user", "system")
KINDS = ("session", "build", "job")


@dataclass(frozen=True, slots=True)
class LogLine:
    kind: str
    id: str
    run: int
    source: str
    seq: int
    stream: str
    message: str
    created_at: datetime
    final: bool = False

    def subject(self, prefix: str = LOGS_PREFIX) -> str:
        return f"{prefix}.{self.kind}.{self.id}"

    def msg_id(self) -> str:
        return f"{self.kind}.{self.id}.{self.run}.{self.source}.{self.seq}"

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "stream": self.stream, "source": self.source,
                                "createdAt": self.created_at.isoformat(), "run": self.run, "seq": self.seq,
                                "kind": self.kind, "id": self.id}
        if self.final:
            body["final"] = True
        return body

    def payload(self) -> bytes:
        try:
            return orjson.dumps(self.to_dict())  # a few times the stdlib's pace: every line of a tool goes here
        except TypeError:  # a lone surrogate (a system line's text from a file name): the stdlib escapes it
            return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode(errors="replace")

    @classmethod
    def from_payload(cls, data: bytes) -> LogLine:
        """Raises ``ValueError`` (or ``KeyError``/``TypeError``) for a payload that is not one line."""
        return cls.from_dict(orjson.loads(data))

    @classmethod
    def from_message(cls, data: bytes) -> list[LogLine]:
        """The lines of one ``LOGS`` message, one or packed (``pack``); raises as ``from_payload`` when it is not
        lines."""
        d = orjson.loads(data)
        return [cls.from_dict(x) for x in d] if isinstance(d, list) else [cls.from_dict(d)]

    @classmethod
    def from_dict(cls, d: Any) -> LogLine:
        if not isinstance(d, dict):
            raise TypeError(f"not a log line: {type(d).__name__}")
        line = cls(kind=str(d["kind"]), id=str(d["id"]), run=int(d["run"]), source=str(d["source"]),
                   seq=int(d["seq"]), stream=str(d["stream"]), message=str(d["message"]),
                   created_at=parse_time(d["createdAt"]), final=bool(d.get("final", False)))
        if line.kind not in KINDS or line.stream not in STREAMS or line.source not in SOURCES:
            raise ValueError(f"not a log line: kind={line.kind!r} stream={line.stream!r} source={line.source!r}")
        return line


#: A packed message's bounds: a fast tool's lines go several hundred a message; a message stays well below the
#: bus's payload limit (one line alone may be larger: a 64 KiB line with escapes is sent on its own).
PACK_LINES = 500
PACK_BYTES = 128 * 1024


def pack(payloads: list[bytes]) -> bytes:
    """Line payloads of one subject, in order, as one message (one alone is sent as it is)."""
    return payloads[0] if len(payloads) == 1 else b"[" + b",".join(payloads) + b"]"


def packs(records: list[tuple[str, bytes]]) -> list[tuple[str, bytes, int]]:
    """``(subject, payload)`` records as messages ``(subject, packed payload, lines)``: each subject's lines in their
    order, within ``PACK_LINES`` and ``PACK_BYTES`` a message (the order across subjects is nobody's: a line's
    order is kept within its run and source, which one subject holds)."""
    by_subject: dict[str, list[list[bytes]]] = {}
    sizes: dict[str, int] = {}
    for subject, payload in records:
        groups = by_subject.setdefault(subject, [[]])
        group = groups[-1]
        if group and (len(group) >= PACK_LINES or sizes[subject] + len(payload) > PACK_BYTES):
            group = []
            groups.append(group)
            sizes[subject] = 0
        group.append(payload)
        sizes[subject] = sizes.get(subject, 0) + len(payload) + 1
    return [(subject, pack(g), len(g)) for subject, groups in by_subject.items() for g in groups]


def parse_time(value: str) -> datetime:
    t = datetime.fromisoformat(value)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def split_message(message: bytes, limit: int = MAX_LINE_BYTES) -> list[tuple[int, str]]:
    """``message`` (one line's bytes, without its newline) as ``(byte offset, text)`` pieces of at most ``limit``
    bytes each, cut on UTF-8 character boundaries. An empty message is one empty piece."""
    if len(message) <= limit:
        return [(0, message.decode("utf-8", errors="replace"))]
    pieces: list[tuple[int, str]] = []
    start = 0
    while start < len(message):
        end = _boundary(message, min(start + limit, len(message)), floor=start + 1)
        pieces.append((start, message[start:end].decode("utf-8", errors="replace")))
        start = end
    return pieces


def _boundary(data: bytes, end: int, floor: int) -> int:
    """``end``, moved back (at most 3 bytes, never below ``floor``) off UTF-8 continuation bytes
    (``0b10xxxxxx``), so no character is cut in two; unchanged when that finds no boundary (not UTF-8)."""
    cut = end
    while cut < len(data) and cut > floor and end - cut < 3 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    return cut if cut >= len(data) or (data[cut] & 0xC0) != 0x80 else end
