"""Wire types of the web layer's own routes (the domain packages keep theirs in `*/schemas.py`).

Errors are documented by `kurultai.web.errors.document_errors` (`{"error", "detail"}` on every 4xx).
"""

from __future__ import annotations

from typing import Literal

import msgspec


class Health(msgspec.Struct, kw_only=True):
    status: Literal["ok"]
