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
    "KURULTAI_MAX_UPLOAD_BYTES": "Largest accepted document upload (a draft law as .docx, .odt or text) in bytes (default 20971520, 20 MB).",
    "KURULTAI_LOGIN_FAILURES": "Failed logins allowed per username and client address in 15 minutes, and per device token (default 10); successes never count.",
    "KURULTAI_LOGIN_USER_FAILURES": "Failed logins allowed per username from all addresses together in 15 minutes, for clients without a device token of that username (default 50).",
    "KURULTAI_LOGIN_ADDRESS_FAILURES": "Failed logins allowed per client address across all usernames a minute, and failed invitation links likewise (default 300).",
    "KURULTAI_TRUSTED_PROXIES": "Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (default none: forwarded headers are ignored).",
    "KURULTAI_PASSWORD_THREADS": "Threads that hash and check passwords, off the event loop (default: one less than the cores, at least 1).",
    "KURULTAI_BALLOT_RATE": "Ballots accepted per voter key per minute, counted once a ballot passed checks 1-10 and goes to the queue (a repeat of an accepted one is not counted), in each process (default 60).",
    "KURULTAI_BALLOT_CLIENT_RATE": "Ballot requests allowed per client address per minute, before any check, in each process (default 20000).",
    "KURULTAI_COOKIE_SECURE": "Set to 1 to mark cookies Secure always (they are on requests that came over HTTPS, directly or through a trusted proxy).",
    "KURULTAI_LIVE_INTERVAL_MS": "Coalescing interval of tally, turnout and tree-head events per election (default 250).",
    "KURULTAI_SQLITE_SYNCHRONOUS": "SQLite durability: FULL (default; a commit survives a server crash, an OS crash and a power loss) or NORMAL (a server crash only: an OS crash or power loss can lose the last commits, whose receipts and signed tree heads were already handed out).",
    "KURULTAI_TOKEN_TTL_HOURS": "Lifetime of API bearer tokens and browser sessions in hours (default 12).",
    "KURULTAI_INVITE_TTL_HOURS": "Lifetime of one-time invitation links (and of the links on printed invitation cards) in hours (default 168, a week).",
    "KURULTAI_REDIS_PREFIX": "Prefix of Redis channel and key names, to share one Redis between deployments (default 'kurultai:').",
    "KURULTAI_ALLOWED_ORIGINS": "Comma-separated extra origins (e.g. https://example.org) allowed to open websockets; same origin is always allowed; '*' allows any.",
    "KURULTAI_WS_HEARTBEAT_S": "Seconds between websocket heartbeats and event-log catch-up checks (default 15).",
    "KURULTAI_WS_QUEUE": "Frames queued per websocket before it is closed with code 4008 to resume (default 1000).",
    "KURULTAI_WS_MAX_FRAME": "Largest client websocket frame in bytes; larger ones close the socket with 1009 (default 4096).",
    "KURULTAI_WS_RATE": "Client websocket messages allowed per second, as a token bucket (default 5).",
    "KURULTAI_WS_BURST": "Burst of client websocket messages allowed above the rate (default 20).",
    "KURULTAI_WS_RIGHTS_CHECK_S": "Seconds between checks of open websockets against their tokens and roles; a logout, an expired token or a changed role closes them with 4401 or 4403 (default 0.5).",
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
    max_upload_bytes: int = 20 * 1024 * 1024
    login_failures: int = 10
    login_user_failures: int = 50
    login_address_failures: int = 300
    trusted_proxies: tuple[str, ...] = ()
    password_threads: int | None = None  # None: one less than the cores
    ballot_rate_per_minute: int = 60
    ballot_client_rate_per_minute: int = 20_000
    cookie_secure: bool = False
    token_ttl_hours: int = 12
    invite_ttl_hours: int = 168
    redis_prefix: str = "kurultai:"
    allowed_origins: tuple[str, ...] = ()
    ws_heartbeat_s: float = 15.0
    ws_queue_max: int = 1000
    ws_max_frame_bytes: int = 4096
    ws_client_rate: float = 5.0
    ws_client_burst: float = 20.0
    ws_replay_window: int = 10_000
    ws_rights_check_s: float = 0.5
    live_interval_ms: int = 250
    sqlite_synchronous: str = "FULL"
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

        def positive(name: str, default: int) -> int:
            value = integer(name, default)
            if value < 1:
                raise SystemExit(f"{name} must be 1 or more, got {value}")
            return value

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
        if env.get("KURULTAI_LOGIN_RATE"):
            raise SystemExit(
                "KURULTAI_LOGIN_RATE is gone: successful logins no longer count; failures are limited by "
                "KURULTAI_LOGIN_FAILURES, KURULTAI_LOGIN_USER_FAILURES and KURULTAI_LOGIN_ADDRESS_FAILURES (docs/operations.md)"
            )
        password_threads: int | None = None
        if env.get("KURULTAI_PASSWORD_THREADS"):
            password_threads = integer("KURULTAI_PASSWORD_THREADS", 1)
            if password_threads < 1:
                raise SystemExit(f"KURULTAI_PASSWORD_THREADS must be 1 or more, got {password_threads}")
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
            max_upload_bytes=positive("KURULTAI_MAX_UPLOAD_BYTES", 20 * 1024 * 1024),
            login_failures=positive("KURULTAI_LOGIN_FAILURES", 10),
            login_user_failures=positive("KURULTAI_LOGIN_USER_FAILURES", 50),
            login_address_failures=positive("KURULTAI_LOGIN_ADDRESS_FAILURES", 300),
            trusted_proxies=_proxies(env.get("KURULTAI_TRUSTED_PROXIES") or ""),
            password_threads=password_threads,
            ballot_rate_per_minute=integer("KURULTAI_BALLOT_RATE", 60),
            ballot_client_rate_per_minute=integer("KURULTAI_BALLOT_CLIENT_RATE", 20_000),
            cookie_secure=env.get("KURULTAI_COOKIE_SECURE", "") in ("1", "true", "yes"),
            token_ttl_hours=integer("KURULTAI_TOKEN_TTL_HOURS", 12),
            invite_ttl_hours=positive("KURULTAI_INVITE_TTL_HOURS", 168),
            live_interval_ms=integer("KURULTAI_LIVE_INTERVAL_MS", 250),
            sqlite_synchronous=_choice(env, "KURULTAI_SQLITE_SYNCHRONOUS", ("FULL", "NORMAL"), "FULL"),
            signature_processes=signature_processes,
            redis_prefix=env.get("KURULTAI_REDIS_PREFIX") or "kurultai:",
            allowed_origins=tuple(o.strip() for o in (env.get("KURULTAI_ALLOWED_ORIGINS") or "").split(",") if o.strip()),
            ws_heartbeat_s=number("KURULTAI_WS_HEARTBEAT_S", 15.0),
            ws_queue_max=integer("KURULTAI_WS_QUEUE", 1000),
            ws_max_frame_bytes=integer("KURULTAI_WS_MAX_FRAME", 4096),
            ws_client_rate=number("KURULTAI_WS_RATE", 5.0),
            ws_client_burst=number("KURULTAI_WS_BURST", 20.0),
            ws_replay_window=integer("KURULTAI_REPLAY_WINDOW", 10_000),
            ws_rights_check_s=number("KURULTAI_WS_RIGHTS_CHECK_S", 0.5),
        )


def _proxies(raw: str) -> tuple[str, ...]:
    """Addresses and networks (`127.0.0.1`, `10.0.0.0/8`, `::1`). Not `*`: uvicorn would then
    believe the leftmost X-Forwarded-For entry, which the client writes, and every per-address
    limit could be dodged."""
    import ipaddress

    proxies = tuple(p.strip() for p in raw.split(",") if p.strip())
    for p in proxies:
        if p == "*":
            raise SystemExit("KURULTAI_TRUSTED_PROXIES: '*' would let any client claim any address; name the proxies' addresses or networks")
        try:
            ipaddress.ip_network(p, strict=False)
        except ValueError:
            raise SystemExit(f"KURULTAI_TRUSTED_PROXIES: {p!r} is not an address or network") from None
    return proxies


def _choice(env: Any, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = (env.get(name) or default).upper()
    if value not in allowed:
        raise SystemExit(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value
