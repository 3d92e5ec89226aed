"""What `kurultai serve` sets up for its serving process before uvicorn starts."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kurultai.web.app import GC_THRESHOLDS
from kurultai.cli import cli


def test_serve_tunes_the_process_and_uvicorn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    seen: dict[str, Any] = {}

    def fake_run(app: Any, **options: Any) -> None:
        seen["thresholds"] = gc.get_threshold()
        seen["options"] = options

    before = gc.get_threshold()
    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.setenv("KURULTAI_DATA_DIR", str(tmp_path))
    try:
        result = CliRunner().invoke(cli, ["serve", "--port", "8765", "--no-access-log"])
    finally:
        gc.set_threshold(*before)
    assert result.exit_code == 0, result.output
    assert seen["thresholds"] == GC_THRESHOLDS
    assert seen["options"]["access_log"] is False
    assert seen["options"]["ws_per_message_deflate"] is False
    assert seen["options"]["port"] == 8765
    assert "http" not in seen["options"]  # uvicorn's own protocol: nothing below the framework (#15)
    assert seen["options"]["proxy_headers"] is False  # no trusted proxy named: forwarded headers ignored
