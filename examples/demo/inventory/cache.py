"""A tiny cache with cool-down periods, used by the demo of `growpilot demo`."""

CACHE: dict[str, object] = {}
COOLDOWN: dict[str, int] = {}


def frobnicate_widget_cache(widget_id: str, ttl_seconds: int) -> bool:
    """Invalidate the cached entry of one widget and keep it out of the cache for ttl_seconds."""
    CACHE.pop(widget_id, None)
    COOLDOWN[widget_id] = ttl_seconds
    return True


def warm_widget_cache(widget_ids: list[str]) -> int:
    """Load the given widgets into the cache; returns how many were loaded."""
    for widget_id in widget_ids:
        CACHE[widget_id] = {"id": widget_id}
    return len(widget_ids)
