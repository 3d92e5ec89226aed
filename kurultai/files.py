"""Files closed by default: what Kurultai writes to disk is for its owner alone.

The data directory, the SQLite database (with its -wal and -shm files), the server key, backups
and exports hold password hashes, CSRF values, hidden comments and keys. They are created with
mode 0700 (directories) or 0600 (files) passed to the call that creates them, whatever the
process umask (which is never changed). One found with group or other permissions is tightened,
with a warning, instead of refusing to start.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("kurultai.files")

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
_OPEN_BITS = 0o077  # group and other
_warned: set[str] = set()  # paths that could not be tightened: warned about once a process


def private_dir(path: Path, *, tighten_existing: bool = True) -> None:
    """Create the directory `path`, and any missing parents, with mode 0700.

    An existing `path` is tightened when `tighten_existing` (the data directory is ours); pass
    False for a directory the user chose (where a backup or an export goes). Existing parents
    are never changed.
    """
    if path.is_dir():
        if tighten_existing:
            tighten(path)
        return
    private_dir(path.parent, tighten_existing=False)
    try:
        path.mkdir(mode=PRIVATE_DIR_MODE)  # the umask can only narrow it
    except FileExistsError:
        if not path.is_dir():
            raise
        if tighten_existing:  # created at the same moment by another process (a worker)
            tighten(path)


def private_file(path: Path, *, exist_ok: bool = True) -> None:
    """Create `path` empty with mode 0600, or tighten it if it exists (FileExistsError unless
    `exist_ok`). An existing file is never opened: on a SQLite database, closing a descriptor of
    our own would drop the locks this process holds on it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        if not exist_ok:
            raise
        tighten(path)
    else:
        os.close(fd)


def tighten(path: Path) -> None:
    """Remove the group and other permissions of an existing file or directory, with a warning.
    When that fails (the file is not ours, a read-only mount) it warns once and goes on."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & _OPEN_BITS:
        return
    closed = mode & 0o700
    try:
        os.chmod(path, closed)
    except OSError as exc:
        if str(path) not in _warned:
            _warned.add(str(path))
            log.warning("%s has mode %04o: group or others can read it, and it could not be tightened: %s", path, mode, exc)
        return
    log.warning("%s had mode %04o: group or others could read it; tightened to %04o", path, mode, closed)
