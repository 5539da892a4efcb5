"""The host agent's durable state: what it must remember to survive a crash
(SIGKILL, OOM, power loss) without losing or duplicating an address.

What is kept (``HostConfig.state_file``, JSON, rewritten atomically — temporary
file, ``fsync``, ``rename``, ``fsync`` of the directory — whenever it changes,
and before the setsc() answer that depends on the change leaves the agent):

- the client DUID (RFC 8415 §11: a client keeps its DUID across restarts);
- every IA_PD with its IAID, type, persistence, server DUID and address, and
  its delegated prefixes with their lifetimes;
- every address formed from a delegated prefix (the address itself: a random
  interface identifier cannot be formed again), and the interface identifiers
  of on-link (RA) prefixes, so the same address comes back when the RA does;
- the setsc() references: which address which application socket holds,
  identified by the owner's pid and the socket's inode (and fd number), and
  the uid/gid that asked; the uid that started each on-demand acquisition.

The document is the core's own (:meth:`host.core.host.HostCore.export_state`,
:mod:`host.core.saved_state`); this module only writes and reads the file.

On start (:meth:`host.core.host.HostCore.restore_state`, then
:meth:`host.core.host.HostCore.start`) the
lifetimes are shortened by the time the agent was down (wall clock), expired
prefixes are dropped, the addresses are installed again with ``replace`` (the
kernel still holds them: the same address, once), and every IA_PD that holds
prefixes is Rebound with the Confirm-like timing of RFC 8415 §18.2.12 ("the
client ... reboots": Rebind, RFC 8415 §18.2.5, with CNF_* retransmission
parameters), so the server confirms or withdraws each binding; the legacy
IA_PD and the boot types are acquired only if none was restored. References
come back as *adopted* owners (negative owner ids) that the agent watches
through ``/proc/<pid>/fd``: an application's socket that is still open keeps
its address across the agent's crash, and its closing later ends the
reference as usual.

Times in the file: ``core_clock`` / ``wall_clock`` of the moment of writing;
every other time is an absolute value on the writer's core clock, and
``None`` means infinity.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from odm.safefile import UnsafePath, read_private, write_private

log = logging.getLogger(__name__)

__all__ = ["StateFile"]


class StateFile:
    """One JSON state file, written atomically. ``save`` writes only when the
    content (apart from the clocks) changed since the last write."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._last: str | None = None
        self.writes = 0

    def load(self) -> dict[str, Any] | None:
        """The last state written, or None (no file, or unreadable: logged)."""
        try:
            text = read_private(self.path).decode(errors="replace")
        except FileNotFoundError:
            return None
        except UnsafePath:
            raise  # a planted file or symlink: the agent refuses to start
        except OSError as exc:
            log.warning("cannot read state %s: %s", self.path, exc)
            return None
        try:
            doc = json.loads(text)
        except ValueError as exc:
            log.warning("state %s unreadable (%s): starting afresh", self.path, exc)
            return None
        if not isinstance(doc, dict):
            log.warning("state %s is not a JSON object: starting afresh", self.path)
            return None
        return doc

    def save(self, doc: dict[str, Any], core_clock: float, wall_clock: float) -> bool:
        """Write ``doc`` with the two clock stamps if it changed; True if written.
        Raises OSError when the directory cannot be written."""
        body = json.dumps(doc, sort_keys=True)
        if body == self._last:
            return False
        full = dict(doc, core_clock=core_clock, wall_clock=wall_clock)
        write_private(self.path, json.dumps(full, sort_keys=True).encode())
        self._last = body
        self.writes += 1
        return True

    def remove(self) -> None:
        """Forget the state (after a clean shutdown that released everything)."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        self._last = None
