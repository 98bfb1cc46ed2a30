"""Splits the work between st2mistral-sync instances: a tooz partitioned group (hash ring) and locks."""
from __future__ import annotations

import contextlib
import logging
from typing import Any, Iterator

LOG = logging.getLogger(__name__)

GROUP = b"st2mistral-sync"


class ToozPartition:
    """engine.Partition over a started tooz coordinator (StackStorm's [coordination] url).

    Every instance joins one partitioned group; an execution id belongs to the member the
    consistent hash ring gives it. `refresh` runs the tooz watchers, so an instance that left
    (or whose heartbeat expired) is dropped from the ring and its share goes to the others.
    """

    def __init__(self, coordinator: Any, group: bytes = GROUP) -> None:
        self.coordinator = coordinator
        self.member_id = coordinator._member_id  # noqa: SLF001 - tooz keeps it there, no accessor
        self.partitioner = coordinator.join_partitioned_group(group)
        self._members: frozenset = frozenset()
        self.refresh()

    def refresh(self) -> None:
        self.coordinator.run_watchers()
        members = frozenset(self.partitioner.ring.nodes)
        if members != self._members:
            LOG.info("sync instances now: %s (this one: %s)",
                     ", ".join(sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)),
                     self.member_id.decode() if isinstance(self.member_id, bytes) else self.member_id)
            self._members = members

    @property
    def size(self) -> int:
        return len(self._members)

    def owns(self, key: str) -> bool:
        if not self._members:
            return True  # not yet seen in the ring: do the work rather than drop it
        return bool(self.partitioner.belongs_to_self(key))

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[bool]:
        lock = self.coordinator.get_lock(("st2mistral-sync:%s" % key).encode())
        got = bool(lock.acquire(blocking=False))
        try:
            yield got
        finally:
            if got:
                lock.release()

    def leave(self) -> None:
        """Leave the group at once (a clean stop), so the others take over without waiting."""
        try:
            self.coordinator.leave_partitioned_group(self.partitioner)
        except Exception as exc:  # stopping anyway
            LOG.warning("could not leave the sync group: %s", exc)
