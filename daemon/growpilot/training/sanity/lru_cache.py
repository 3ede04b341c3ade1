"""A least-recently-used cache with hit statistics and an optional time to live."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Generic, Hashable, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class LRUCache(Generic[K, V]):
    def __init__(self, capacity: int, ttl: float | None = None, clock: Callable[[], float] = time.monotonic):
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self.ttl = ttl
        self.clock = clock
        self.stats = CacheStats()
        self._items: OrderedDict[K, tuple[V, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: K) -> bool:
        return self._fresh(key)

    def _fresh(self, key: K) -> bool:
        entry = self._items.get(key)
        if entry is None:
            return False
        if self.ttl is not None and self.clock() - entry[1] > self.ttl:
            del self._items[key]
            return False
        return True

    def get(self, key: K, default: V | None = None) -> V | None:
        if not self._fresh(key):
            self.stats.misses += 1
            return default
        self._items.move_to_end(key)
        self.stats.hits += 1
        return self._items[key][0]

    def put(self, key: K, value: V) -> None:
        if key in self._items:
            self._items.move_to_end(key)
        self._items[key] = (value, self.clock())
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
            self.stats.evictions += 1

    def pop(self, key: K, default: V | None = None) -> V | None:
        entry = self._items.pop(key, None)
        return default if entry is None else entry[0]

    def get_or_compute(self, key: K, compute: Callable[[K], V]) -> V:
        value = self.get(key)
        if value is None:
            value = compute(key)
            self.put(key, value)
        return value

    def keys(self) -> list[K]:
        return [k for k in list(self._items) if self._fresh(k)]

    def clear(self) -> None:
        self._items.clear()
        self.stats = CacheStats()


def memoize(capacity: int = 128):
    """Decorator: cache a one-argument function's results in an LRUCache."""

    def wrap(fn: Callable[[K], V]) -> Callable[[K], V]:
        cache: LRUCache[K, V] = LRUCache(capacity)

        def inner(arg: K) -> V:
            return cache.get_or_compute(arg, fn)

        inner.cache = cache  # type: ignore[attr-defined]
        inner.__name__ = fn.__name__
        inner.__doc__ = fn.__doc__
        return inner

    return wrap


@memoize(capacity=64)
def fibonacci(n: int) -> int:
    if n < 2:
        return n
    return fibonacci(n - 1) + fibonacci(n - 2)
