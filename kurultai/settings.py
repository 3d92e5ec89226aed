"""Settings: one dataclass, read from the environment in one place (`Settings.from_env`).

Nothing here is cached at import time: tests build their own `Settings` and pass it to
`create_app`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

#: Every environment variable Kurultai reads, with its meaning. docs/operations.md lists them
#: too, and a test checks that the two agree.
ENVIRONMENT = {
    "KURULTAI_DATA_DIR": "Directory for the SQLite file, the server key and the session secret (default ./data).",
    "KURULTAI_DATABASE_URL": "postgres://user@host:port/db to use PostgreSQL instead of the embedded SQLite file.",
    "KURULTAI_REDIS_URL": "redis://host:port/db for cross-process channels, sessions and rate limits (issue #5).",
    "KURULTAI_HOST": "Interface to bind (default 127.0.0.1).",
    "KURULTAI_PORT": "Port to bind (default 8000).",
    "KURULTAI_MAX_BODY_BYTES": "Largest accepted request body in bytes (default 262144).",
    "KURULTAI_LOGIN_RATE": "Login attempts allowed per client per minute (default 10).",
    "KURULTAI_BALLOT_RATE": "Ballots accepted per voter key per minute, counted after the signature check, in each process (default 60).",
    "KURULTAI_BALLOT_CLIENT_RATE": "Ballot requests allowed per client address per minute, before any check, in each process (default 20000).",
    "KURULTAI_COOKIE_SECURE": "Set to 1 to mark cookies Secure (always on behind TLS).",
    "KURULTAI_LIVE_INTERVAL_MS": "Coalescing interval of tally, turnout and tree-head events per election (default 250).",
    "KURULTAI_SQLITE_SYNCHRONOUS": "SQLite durability: NORMAL (default; survives a server crash) or FULL (also an OS crash or power loss).",
    "KURULTAI_TOKEN_TTL_HOURS": "Lifetime of API bearer tokens and browser sessions in hours (default 12).",
    "KURULTAI_REDIS_PREFIX": "Prefix of Redis channel and key names, to share one Redis between deployments (default 'kurultai:').",
    "KURULTAI_ALLOWED_ORIGINS": "Comma-separated extra origins (e.g. https://example.org) allowed to open websockets; same origin is always allowed; '*' allows any.",
    "KURULTAI_WS_HEARTBEAT_S": "Seconds between websocket heartbeats and event-log catch-up checks (default 15).",
    "KURULTAI_WS_QUEUE": "Frames queued per websocket before it is closed with code 4008 to resume (default 1000).",
    "KURULTAI_WS_MAX_FRAME": "Largest client websocket frame in bytes; larger ones close the socket with 1009 (default 4096).",
    "KURULTAI_WS_RATE": "Client websocket messages allowed per second, as a token bucket (default 5).",
    "KURULTAI_WS_BURST": "Burst of client websocket messages allowed above the rate (default 20).",
    "KURULTAI_REPLAY_WINDOW": "How many events back a websocket may resume with since= before it gets a snapshot (default 10000).",
}


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=lambda: Path("data"))
    database_url: str | None = None
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 256 * 1024
    login_rate_per_minute: int = 10
    ballot_rate_per_minute: int = 60
    ballot_client_rate_per_minute: int = 20_000
    cookie_secure: bool = False
    token_ttl_hours: int = 12
    redis_prefix: str = "kurultai:"
    allowed_origins: tuple[str, ...] = ()
    ws_heartbeat_s: float = 15.0
    ws_queue_max: int = 1000
    ws_max_frame_bytes: int = 4096
    ws_client_rate: float = 5.0
    ws_client_burst: float = 20.0
    ws_replay_window: int = 10_000
    live_interval_ms: int = 250
    sqlite_synchronous: str = "NORMAL"
    signature_processes: int | None = None  # ballot signature-check worker processes; None: one per core, 0: threads

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "kurultai.sqlite3"

    @property
    def uses_postgres(self) -> bool:
        return bool(self.database_url) and self.database_url.startswith(("postgres://", "postgresql://"))

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def integer(name: str, default: int) -> int:
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                return int(raw)
            except ValueError:
                raise SystemExit(f"{name} must be an integer, got {raw!r}") from None

        def number(name: str, default: float) -> float:
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = float(raw)
            except ValueError:
                raise SystemExit(f"{name} must be a number, got {raw!r}") from None
            if not value > 0:
                raise SystemExit(f"{name} must be positive, got {raw!r}")
            return value

        signature_processes: int | None = None
        if env.get("KURULTAI_SIGNATURE_PROCESSES"):
            signature_processes = integer("KURULTAI_SIGNATURE_PROCESSES", 0)
            if signature_processes < 0:
                raise SystemExit(f"KURULTAI_SIGNATURE_PROCESSES must be 0 or more, got {signature_processes}")
        url = env.get("KURULTAI_DATABASE_URL") or None
        if url and not url.startswith(("postgres://", "postgresql://")):
            raise SystemExit(f"KURULTAI_DATABASE_URL must start with postgres://, got {url!r}")
        return cls(
            data_dir=Path(env.get("KURULTAI_DATA_DIR") or "data"),
            database_url=url,
            redis_url=env.get("KURULTAI_REDIS_URL") or None,
            host=env.get("KURULTAI_HOST") or "127.0.0.1",
            port=integer("KURULTAI_PORT", 8000),
            max_body_bytes=integer("KURULTAI_MAX_BODY_BYTES", 256 * 1024),
            login_rate_per_minute=integer("KURULTAI_LOGIN_RATE", 10),
            ballot_rate_per_minute=integer("KURULTAI_BALLOT_RATE", 60),
            ballot_client_rate_per_minute=integer("KURULTAI_BALLOT_CLIENT_RATE", 20_000),
            cookie_secure=env.get("KURULTAI_COOKIE_SECURE", "") in ("1", "true", "yes"),
            token_ttl_hours=integer("KURULTAI_TOKEN_TTL_HOURS", 12),
            live_interval_ms=integer("KURULTAI_LIVE_INTERVAL_MS", 250),
            sqlite_synchronous=_choice(env, "KURULTAI_SQLITE_SYNCHRONOUS", ("NORMAL", "FULL"), "NORMAL"),
            signature_processes=signature_processes,
            redis_prefix=env.get("KURULTAI_REDIS_PREFIX") or "kurultai:",
            allowed_origins=tuple(o.strip() for o in (env.get("KURULTAI_ALLOWED_ORIGINS") or "").split(",") if o.strip()),
            ws_heartbeat_s=number("KURULTAI_WS_HEARTBEAT_S", 15.0),
            ws_queue_max=integer("KURULTAI_WS_QUEUE", 1000),
            ws_max_frame_bytes=integer("KURULTAI_WS_MAX_FRAME", 4096),
            ws_client_rate=number("KURULTAI_WS_RATE", 5.0),
            ws_client_burst=number("KURULTAI_WS_BURST", 20.0),
            ws_replay_window=integer("KURULTAI_REPLAY_WINDOW", 10_000),
        )


def _choice(env: Any, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = (env.get(name) or default).upper()
    if value not in allowed:
        raise SystemExit(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value
