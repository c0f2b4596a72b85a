"""Counters of events per key within a fixed window, kept in a cache every web process shares.

The login limit counts failures per username and address, the password-reset limit counts requests
per email and per address (``traces/views/auth.py``); both count here. The counts live in the
``rate-limits`` cache (``app/settings.py``): Redis when configured, else a file cache shared by
every process on the machine, so several gunicorn workers count together. Keys are hashes, so the
cache holds no username, email or address in clear.
"""

from __future__ import annotations

import hashlib
import time

from django.core.cache import caches

CACHE = "rate-limits"


def counter_key(scope: str, *parts: str) -> str:
    """The key of the counter of ``parts`` (e.g. a username and an address) within ``scope``."""
    return f"{scope}:" + hashlib.sha256("\0".join(parts).encode()).hexdigest()


def count(key: str) -> int:
    """Events counted in the current window (0 once it has ended, even before the cache entry expires)."""
    events, ends = caches[CACHE].get(key, (0, 0.0))
    return int(events) if time.time() < ends else 0


def record(key: str, window: int) -> None:
    """Count an event; the window of ``window`` seconds starts at the first event, later ones do not extend it.

    A read and a write, not an atomic increment (the cache's ``incr`` resets the expiry): two
    simultaneous events may count once, which lets an attacker a handful more tries, not thousands.
    """
    cache = caches[CACHE]
    now = time.time()
    events, ends = cache.get(key, (0, 0.0))
    if now >= ends:  # no window yet, or the last one has ended: this event starts a new one
        events, ends = 0, now + window
    cache.set(key, (events + 1, ends), timeout=max(1, ends - now))


def clear(key: str) -> None:
    """Forget the counter (a successful login clears its failures)."""
    caches[CACHE].delete(key)
