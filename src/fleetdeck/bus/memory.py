"""In-process bus for the embedded deployment: bounded queues, oldest message dropped first."""

from __future__ import annotations

import asyncio
from collections import defaultdict


class Subscription:
    """A subscriber's queue. A slow reader loses the oldest messages, never blocks a publisher."""

    def __init__(self, bus: MemoryBus, topic: str, maxsize: int) -> None:
        self._bus = bus
        self.topic = topic
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=maxsize)
        self.dropped = 0

    def offer(self, data: bytes) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(data)

    async def get(self) -> bytes:
        return await self.queue.get()

    def close(self) -> None:
        self._bus.unsubscribe(self)


class MemoryBus:
    def __init__(self) -> None:
        self._subs: defaultdict[str, set[Subscription]] = defaultdict(set)

    def subscribe(self, topic: str, maxsize: int = 8) -> Subscription:
        sub = Subscription(self, topic, maxsize)
        self._subs[topic].add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs[sub.topic].discard(sub)

    def subscriber_count(self, topic: str) -> int:
        return len(self._subs.get(topic, ()))

    def publish(self, topic: str, data: bytes) -> int:
        """Hand the same bytes object to every subscriber; returns how many got it."""
        subs = self._subs.get(topic, ())
        for sub in subs:
            sub.offer(data)
        return len(subs)
