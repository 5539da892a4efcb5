"""The host agent's durable state (host/state.py) as its adapter keeps it:
taking back what a previous run saved, writing the state before an answer
that depends on it leaves, and the references adopted from it. A mixin of
:class:`host.io.agent.HostAgent` (its attributes: ``config``, ``core``,
``state``, ``api``, ``nl``, ``adopted``, ``loop``)."""

from __future__ import annotations

import logging
import time
from typing import Any

from host.core.events import AddressRemoved, FailureReason, SetscCompleted
from host.io.api_server import socket_open_in

log = logging.getLogger("host.io.agent")

__all__ = ["DurableState"]


class DurableState:
    """The state-file part of the host agent (see the module docstring)."""

    config: Any
    core: Any
    state: Any
    api: Any
    nl: Any
    loop: Any
    adopted: dict
    _persisted_owners: dict
    _setsc_of: Any
    _adopt_handle: Any
    _waiting: dict
    state_write_failed: int

    def now(self) -> float:
        raise NotImplementedError

    def _kick(self) -> None:
        raise NotImplementedError

    def _restore(self, doc: dict) -> None:
        """Take back what the previous run saved (host/state.py)."""
        try:
            elapsed = max(0.0, time.time() - float(doc["wall_clock"]))
            adopted = self.core.restore_state(doc, self.now(), elapsed)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("state %s not used (%s): starting afresh", self.state.path, exc)
            return
        self.adopted = {a.owner: a for a in adopted}
        log.info("state %s restored (%.1f s old): %d IA_PD(s), %d address(es), "
                 "%d reference(s) adopted", self.state.path, elapsed, len(self.core.pd.ias),
                 len(self.core.addrs.by_prefix), len(adopted))

    def _remove_leftovers(self) -> None:
        """At start: delegated (/128) addresses that a previous run installed
        (IFA_PROTO mark) and the restored state does not hold are removed —
        all of them when there is no state file or nothing was restored (a
        crash leaves its addresses in the kernel, no longer served), and a
        crash between the state write and the kernel change leaves none
        behind. On-link /64 addresses come back with the RA."""
        try:
            marked = self.nl.odm_addresses()
        except Exception as exc:  # noqa: BLE001
            log.warning("cannot list the kernel's addresses: %s", exc)
            return
        for addr, plen in marked:
            if plen == 128 and addr not in self.core.addrs.by_address:
                log.info("leftover address %s of a previous run removed", addr)
                self.nl.apply(AddressRemoved(addr, plen, None, "leftover"))

    def _watch_adopted(self) -> None:
        """End adopted references whose application socket is closed."""
        self._adopt_handle = None
        now = self.now()
        for owner, a in list(self.adopted.items()):
            if owner not in self.core.refs or socket_open_in(a.pid, a.inode, a.fd) is False:
                log.info("adopted owner %d (pid %d, inode %d) ended", owner, a.pid, a.inode)
                del self.adopted[owner]
                self.core.close_owner(owner, now)
        self._kick()
        if self.adopted:
            self._adopt_handle = self.loop.call_later(self.config.socket_poll_interval,
                                                      self._watch_adopted)

    def _persist(self) -> str | None:
        """Write the state file if it changed; None when it is durable (or no
        state file is kept), else why it is not."""
        if self.state is None:
            return None
        owners = {c.owner: {"pid": c.pid, "inode": c.inode, "fd": c.fd}
                  for c in self.api.conns.values()} if self.api else {}
        for a in self.adopted.values():
            owners[a.owner] = {"pid": a.pid, "inode": a.inode, "fd": a.fd}
        try:
            self.state.save(self.core.export_state(owners), self.now(), time.time())
            self._persisted_owners = owners
        except OSError as exc:
            self._persisted_owners = {}
            self.state_write_failed += 1
            log.warning("cannot write state %s: %s", self.state.path, exc)
            return f"state file {self.state.path} not written ({exc.strerror or exc})"
        return None

    def _held_again(self, events: list) -> bool:
        """True when the only thing that happened since the last write of the
        state file is a setsc() that gave its connection again the address it
        holds (spec §6.1: a held address comes back at once): its reference is
        the same object, its socket's pid/inode/fd as written, and its answer
        the only event. Nothing durable changed, so the state need not be
        rebuilt and compared (that was most of such a call's CPU time)."""
        held, self._setsc_of = self._setsc_of, None
        if held is None or len(events) != 1 or self.state is None:
            return False
        n, c, ref = held
        ev = events[0]
        return (ref is not None and type(ev) is SetscCompleted and ev.request_id == n
                and ev.address is not None
                and self.core.refs.get(c.owner) is ref and ev.address == ref.address
                and self._persisted_owners.get(c.owner)
                == {"pid": c.pid, "inode": c.inode, "fd": c.fd})

    def _not_durable(self, ev: SetscCompleted, why: str) -> SetscCompleted:
        """A setsc() answer whose address is not in the state file: the
        caller gets EAI_REQUIREDIPFAILED instead, and its reference is dropped
        (the release policy applies as for a closed socket), so no
        acknowledged address can be lost by a crash (issue 13 point 7)."""
        w = self._waiting.get(ev.request_id)
        if w is not None:
            self.core.drop_reference(w[0].owner, self.now())
        log.warning("setsc() answer %s withheld: %s", ev.address, why)
        return SetscCompleted(ev.request_id, None, FailureReason.FAILED,
                              f"{why}: the address would not survive a restart of the agent")
