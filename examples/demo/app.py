from inventory import cache


def refresh_widget(widget_id: str) -> bool:
    """Drop the widget from the cache for ten minutes."""
    return cache.
