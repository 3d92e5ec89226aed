"""A token bucket for client messages on one connection, and the Origin allow-list."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class TokenBucket:
    """`rate` tokens per second up to `burst`; each message takes one. Time is passed in."""

    rate: float
    burst: float
    tokens: float = -1.0
    stamp: float = 0.0

    def take(self, now: float) -> bool:
        if self.tokens < 0:
            self.tokens, self.stamp = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """Same origin (the Origin's host:port equals the Host header), or listed in `allowed`.

    Browsers always send Origin on a websocket handshake; clients that send none are not
    browsers, and a cross-site attack needs a browser, so a missing Origin is allowed. The
    scheme is not compared with the request's so that a TLS-terminating proxy works.
    `allowed` holds full origins ("https://example.org") or "*".
    """
    if origin is None:
        return True
    origin = origin.strip().lower().rstrip("/")
    if "*" in allowed or origin in {a.strip().lower().rstrip("/") for a in allowed}:
        return True
    if not host:
        return False
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    netloc = parts.netloc
    default = {"http": ":80", "https": ":443"}[parts.scheme]
    host = host.strip().lower()
    return netloc == host or netloc + default == host or netloc == host + default
