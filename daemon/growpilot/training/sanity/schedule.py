"""Time intervals: merging busy periods, finding free slots, and ordering tasks by their dependencies."""

from __future__ import annotations

import heapq
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable


@dataclass(frozen=True, order=True)
class Interval:
    start: datetime
    end: datetime

    def __post_init__(self):
        if self.end < self.start:
            raise ValueError("an interval cannot end before it starts")

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def overlaps(self, other: "Interval") -> bool:
        return self.start < other.end and other.start < self.end


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for current in sorted(intervals):
        if merged and current.start <= merged[-1].end:
            last = merged[-1]
            merged[-1] = Interval(last.start, max(last.end, current.end))
        else:
            merged.append(current)
    return merged


def free_slots(busy: Iterable[Interval], day_start: datetime, day_end: datetime,
               minimum: timedelta = timedelta(minutes=30)) -> list[Interval]:
    slots, cursor = [], day_start
    for interval in merge(busy):
        if interval.end <= day_start or interval.start >= day_end:
            continue
        if interval.start - cursor >= minimum:
            slots.append(Interval(cursor, interval.start))
        cursor = max(cursor, interval.end)
    if day_end - cursor >= minimum:
        slots.append(Interval(cursor, day_end))
    return slots


def topological_order(dependencies: dict[str, set[str]]) -> list[str]:
    """Tasks so that each comes after what it depends on; raises on a cycle."""
    indegree: dict[str, int] = defaultdict(int)
    dependents: dict[str, list[str]] = defaultdict(list)
    for task, needs in dependencies.items():
        indegree.setdefault(task, 0)
        for need in needs:
            indegree.setdefault(need, 0)
            indegree[task] += 1
            dependents[need].append(task)
    ready = deque(sorted(task for task, n in indegree.items() if n == 0))
    order = []
    while ready:
        task = ready.popleft()
        order.append(task)
        for nxt in sorted(dependents[task]):
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    if len(order) != len(indegree):
        raise ValueError("the dependencies contain a cycle")
    return order


def shortest_paths(graph: dict[str, dict[str, float]], source: str) -> dict[str, float]:
    """Dijkstra: the cost of the cheapest path from `source` to every reachable node."""
    best = {source: 0.0}
    queue = [(0.0, source)]
    while queue:
        cost, node = heapq.heappop(queue)
        if cost > best.get(node, float("inf")):
            continue
        for neighbour, weight in graph.get(node, {}).items():
            candidate = cost + weight
            if candidate < best.get(neighbour, float("inf")):
                best[neighbour] = candidate
                heapq.heappush(queue, (candidate, neighbour))
    return best


def next_weekday(day: datetime, weekday: int) -> datetime:
    ahead = (weekday - day.weekday()) % 7 or 7
    return day + timedelta(days=ahead)


def business_days_between(start: datetime, end: datetime) -> int:
    days, current = 0, start
    while current < end:
        if current.weekday() < 5:
            days += 1
        current += timedelta(days=1)
    return days
