"""Structured logs: one JSON object a line, and never a password, token or private key.

Every record passes `redact` before it is formatted: bearer tokens, session and CSRF cookies,
invitation tokens in paths, `token=`/`password=` parameters and JSON fields, and b64u strings of
private-key length are replaced by `[redacted]`. Kurultai itself never logs request bodies.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

REDACTED = "[redacted]"
_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)((?:kurultai_session|kurultai_csrf)=)[^;\s\"']+"),
    re.compile(r"(/invite/)[A-Za-z0-9_-]+"),
    re.compile(r"(?i)((?:token|password|secret|private_key)=)[^&\s\"']+"),
    re.compile(r"(?i)(\"(?:token|password|secret|private_key|csrf_token)\"\s*:\s*\")[^\"]*"),
]


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            entry["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def log_config(level: str = "info", access_log: bool = True) -> dict[str, Any]:
    """A `logging.config.dictConfig` for uvicorn and Kurultai: JSON lines on stderr."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": handler},
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.access": {"handlers": ["stderr"] if access_log else [], "level": "INFO", "propagate": False},
            "httpx": {"level": "WARNING"},
            "piccolo": {"level": "WARNING"},
        },
    }
