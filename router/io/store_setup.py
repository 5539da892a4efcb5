"""The router agent's lease store and server identity, set up at start.

:func:`open_lease_store`: the store the configuration names
(:func:`router.store.open_store`: SQLite in WAL mode, or PostgreSQL); for a
remote database the commits leave the event loop (:mod:`router.io.commits`).
:func:`server_duid`: the DUID the router answers with (RFC 8415 §11),
persisted in the store's ``meta`` table.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

from odm_wire.dhcp6 import Duid, DuidLL, DuidLLT, decode_duid
from odm_wire.errors import WireFormatError
from router.config import RouterConfig, parse_duid_text
from router.store import LeaseStore, open_store

log = logging.getLogger("router.agent")

__all__ = ["open_lease_store", "server_duid"]

#: Seconds since 1970-01-01 of 2000-01-01 00:00 UTC (DUID-LLT time base).
_DUID_EPOCH = 946684800
_META_DUID = "server-duid"


def open_lease_store(cfg: RouterConfig, store: LeaseStore | None,
                     loop: asyncio.AbstractEventLoop | None,
                     release: Callable[..., None]) -> tuple[LeaseStore, Any]:
    """``(store, commits)``: ``store`` (the caller's) or the one ``cfg`` names,
    opened; with a remote store, a :class:`~router.io.commits.DeferredStore`
    over it and the :class:`~router.io.commits.CommitPipeline` that commits it
    off the loop and hands each core's held Replies and events to
    ``release`` once their commit is in (``commits`` None for a local
    store). Raises :class:`~router.errors.StoreError`."""
    if store is None:
        store = open_store(cfg)
    if not store.remote:
        return store, None
    # a database one round trip away: commits leave the loop
    from router.io.commits import CommitPipeline, DeferredStore

    reader = store
    store = DeferredStore(reader)
    commits = CommitPipeline(store, reader.clone, loop, release=release,
                             timeout=cfg.lease_store.timeout if cfg.lease_store else 5.0)
    return store, commits


def server_duid(config: RouterConfig, store: LeaseStore, mac: bytes | None,
                wall: float | None = None) -> Duid:
    """The server DUID (RFC 8415 §11): the hex DUID of ``[router]
    server_duid``, or for ``"llt"`` / ``"ll"`` the one persisted in the store
    if it is of that type, else a new DUID-LLT (time ``wall``, seconds since
    1970, default now) or DUID-LL from ``mac`` (random locally administered
    octets if None), persisted. Raises :class:`~router.errors.StoreError`."""
    v = config.server_duid
    if v not in ("llt", "ll"):
        return decode_duid(parse_duid_text(v))
    want = DuidLLT if v == "llt" else DuidLL
    # per router id: routers sharing one lease store (DESIGN §2) must not
    # share a DUID (RFC 8415 §11: a DUID identifies one server)
    key = f"{_META_DUID}/{config.router_id}"
    saved = store.get_meta(key)
    if saved:
        try:
            d = decode_duid(bytes.fromhex(saved))
            if type(d) is want:
                return d
        except (ValueError, WireFormatError):
            log.warning("ignoring unreadable persisted server DUID %r", saved)
    if not mac:
        mac = bytes([(secrets.randbits(8) & 0xFC) | 0x02]) + secrets.token_bytes(5)
    if want is DuidLLT:
        t = int((time.time() if wall is None else wall) - _DUID_EPOCH) & 0xFFFFFFFF
        d = DuidLLT(1, t, mac)
    else:
        d = DuidLL(1, mac)
    store.set_meta(key, bytes(d).hex())
    return d
