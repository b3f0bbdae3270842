"""The stream positions a store has seen committed, so an append at an exact version need not look again.

At an exact expected version ``n`` the append checks that position ``n`` is stored (a version ahead of the stream
would leave a gap) and lets the unique index refuse ``n + 1``. That look is an index probe plus a heap visit per
append, a quarter of what the append's statement costs beyond a plain insert (``docs/architecture.md``, "Where an
append's time goes"). Yet the store usually knows the answer already: a command handler appends at the version it
just read or just wrote. Events are never deleted, so once position ``m`` of a stream is committed every position
up to ``m`` is there for good, and an append at ``n <= m`` can skip the probe.

Only committed facts are kept: an append's result once its statement (or its ``append_many`` transaction) has
committed, and the last position of a ``read_stream`` on the store's own pool. Nothing seen inside a caller's
transaction is kept, since it may yet roll back. ``forget`` drops everything; the store calls it when a writer's
connection is lost, because a server that crashed or failed over may have come back without its last commits if
they were not flushed (``synchronous_commit = off``, an asynchronous replica).
"""

from __future__ import annotations

from collections import OrderedDict

#: streams remembered, least recently used out first: a few hundred KiB, and the streams a service is busy
#: with stay in it
DEFAULT_SIZE = 10_000


class KnownHeads:
    """Per stream, the highest position seen committed. Bounded, least recently used out first."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._heads: OrderedDict[str, int] = OrderedDict()

    def covers(self, stream: str, version: int) -> bool:
        """Whether position ``version`` of ``stream`` is known to be stored."""
        head = self._heads.get(stream)
        return head is not None and version <= head

    def saw(self, stream: str, position: int) -> None:
        """Position ``position`` of ``stream`` is committed (so are all before it)."""
        head = self._heads.get(stream)
        if head is None or position > head:
            self._heads[stream] = position
        self._heads.move_to_end(stream)
        if len(self._heads) > self.size:
            self._heads.popitem(last=False)

    def forget(self) -> None:
        self._heads.clear()

    def __len__(self) -> int:
        return len(self._heads)
