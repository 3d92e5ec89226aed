"""The server's long-lived Ed25519 key: created on first start in the data directory (mode 0600).

It signs `election`, `roll`, `sth` and `result` objects. Several instances that share the data
directory (or a copy of this file) share the key.
"""

from __future__ import annotations

import os
from pathlib import Path

from kurultai.files import PRIVATE_FILE_MODE, private_dir, tighten
from voting.core.encoding import b64u_encode
from voting.core.keys import Signer

KEY_FILE = "server-key.ed25519"


def key_path(data_dir: Path) -> Path:
    return data_dir / KEY_FILE


def load_or_create(data_dir: Path) -> Signer:
    """Read the key, or create it atomically with mode 0600 when there is none (in the data
    directory, created 0700). A key or directory readable by others is tightened."""
    path = key_path(data_dir)
    private_dir(data_dir)
    if path.exists():
        tighten(path)
    else:
        signer = Signer.generate()
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        try:
            os.write(fd, signer.private_bytes())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if another process created the key first
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    raw = path.read_bytes()
    if len(raw) != 32:
        raise SystemExit(f"{path} must hold a 32-byte Ed25519 private key, it holds {len(raw)} bytes")
    return Signer.from_private_bytes(raw)


def public_view(signer: Signer) -> dict[str, str]:
    """The body of GET /api/server-key (PROTOCOL §2)."""
    return {"algorithm": "ed25519", "public_key": b64u_encode(signer.public_key_raw), "key_id": signer.key_id}


def fingerprint(signer: Signer) -> str:
    """A short form of the key id for pages: 4 groups of 4 hex digits."""
    k = signer.key_id
    return " ".join(k[i : i + 4] for i in range(0, 16, 4))
