"""Reading a SQLite file of the data root (the ledger, the embedded queues) without creating one.

Both are in WAL mode. SQLite opens a WAL database read-only only through its `-wal` and `-shm`
files, and creates them when they are missing, leaving them behind when it closes (a read-only
connection may not delete them). They exist while any process has the database open, and the last
one to close deletes them. So when the `-wal` file is absent, no process has the database open and
the file holds everything committed: it is read as immutable (no locks, no `-shm`, no `-wal`).
A writer that starts meanwhile writes to its own `-wal` and leaves the main file alone until a
checkpoint (after about 1,000 pages): the reader sees the state before that writer, as if it had
read a moment earlier. When the `-wal` file exists, a plain read-only connection uses the files
already there.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote


def read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to an existing SQLite file that creates no file next to it."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    if not path.with_name(path.name + "-wal").exists():
        uri += "&immutable=1"
    return sqlite3.connect(uri, uri=True, timeout=30)
