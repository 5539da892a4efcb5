"""The lab's on-disk record: ``{state_dir}/{prefix}/state.json``.

The record is written *before* each thing is created (write-ahead), so that a
``down()`` in a fresh process after a crash, a SIGKILL or a Ctrl-C finds every
namespace and process the lab may have made. Each write replaces the file
atomically (write to a temporary file, fsync, rename); read-modify-write cycles
hold an ``flock`` on ``{state_dir}/{prefix}/lock`` so that several processes
using the same lab (``odm lab move`` while a demo runs) do not lose updates.

Schema (version 1)::

    {
      "version": 1,
      "prefix": "odm",
      "config": {...LabConfig.to_dict()...},
      "phase": "creating" | "up" | "moving" | "failed",
      "created": 1700000000.0,            # time.time()
      "owner": {"pid": 123, "starttime": 456},   # the process that ran up()
      "netns": ["odm-cn", ...],           # recorded before each is created
      "attached": "ar1",                  # router the host is attached to
      "processes": [{"pid": 1, "starttime": 2, "node": "cn", "argv": [...],
                     "log": "/path" | null, "stop_signal": 15, "kind": "spawn"}]
    }
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

STATE_VERSION = 1


class StateStore:
    """Read and update one lab's state file.

    Args:
        path: the ``state.json`` path; its directory is created on first write.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.dir = self.path.parent
        self._lock_path = self.dir / "lock"
        self._rlock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    def exists(self) -> bool:
        """True if the state file exists."""
        return self.path.exists()

    def load(self) -> dict[str, Any] | None:
        """The recorded state, or None if there is none.

        Raises:
            ValueError: the file exists but is not a version-1 state record.
        """
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise ValueError(f"{self.path}: not an odm lab state (version {STATE_VERSION})")
        return data

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the inter-process (flock) and in-process lock for a read-modify-write.

        Re-entrant within one thread (a nested ``locked()`` does not flock again).
        """
        with self._rlock:
            if self._depth == 0:
                self.dir.mkdir(parents=True, exist_ok=True)
                fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    os.close(fd)
                    raise
                self._fd = fd
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    os.close(self._fd)
                    self._fd = None

    def save(self, data: dict[str, Any]) -> None:
        """Atomically replace the state file with ``data``."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".state.", dir=self.dir)
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh, indent=2, sort_keys=True)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    @contextlib.contextmanager
    def update(self) -> Iterator[dict[str, Any]]:
        """Lock, load, yield the dict for the caller to change, save.

        Raises:
            FileNotFoundError: there is no state to update.
        """
        with self.locked():
            data = self.load()
            if data is None:
                raise FileNotFoundError(self.path)
            yield data
            self.save(data)

    def discard_if_unused(self) -> None:
        """Remove the directory if it holds no state file (only the lock)."""
        with self._rlock:
            if not self.path.exists():
                shutil.rmtree(self.dir, ignore_errors=True)

    def remove(self) -> None:
        """Delete the state file and its directory (no error if already gone)."""
        with self._rlock:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            shutil.rmtree(self.dir, ignore_errors=True)
