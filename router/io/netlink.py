"""pyroute2 netlink of the router agent, on one worker thread.

pyroute2 0.9's synchronous ``IPRoute`` runs an asyncio loop of its own and
cannot be called from inside the agent's running loop (``RuntimeError: Cannot
run the event loop while another loop is running``). :class:`NetlinkWorker`
therefore owns one ``IPRoute`` on one dedicated thread and runs every call
there, in submission order:

* :meth:`NetlinkWorker.submit` queues a call and returns at once (the route
  of a delegated prefix: the Reply does not wait for the kernel, and a burst
  of grants becomes a stream of netlink requests off the event loop);
* :meth:`NetlinkWorker.call` queues a call and waits for its result;
* :attr:`NetlinkWorker.ipr` is an :class:`IPRouteProxy`: an object with the
  ``IPRoute`` methods (``route``, ``rule``, ``get_routes``, ``link_lookup``
  ...) that forwards each call to the worker and waits. It is what
  :mod:`router.dataplane` backends and :class:`~router.dataplane.moves.Mobility` are given, so their
  calls are ordered after the agent's own queued route changes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from pyroute2 import IPRoute

log = logging.getLogger(__name__)

__all__ = ["IPRouteProxy", "NetlinkWorker"]


class IPRouteProxy:
    """``IPRoute``-like object whose method calls run on the worker thread
    (blocking the caller until done; called *on* the worker thread they run
    directly). Exceptions (``NetlinkError``) propagate to the caller."""

    def __init__(self, worker: NetlinkWorker) -> None:
        self._worker = worker

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._worker._ipr, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._worker.call(getattr(self._worker._ipr, name), *args, **kwargs)
        call.__name__ = name
        return call

    def __repr__(self) -> str:
        return f"<IPRouteProxy on {self._worker._thread_name}>"


class NetlinkWorker:
    """One ``IPRoute`` (in the caller's network namespace) on one thread."""

    def __init__(self) -> None:
        self._thread_name = "odm-router-netlink"
        self._ex = ThreadPoolExecutor(1, thread_name_prefix=self._thread_name)
        self._ident: int | None = None
        self._ipr: IPRoute = self._ex.submit(self._open).result()
        self.ipr = IPRouteProxy(self)
        self.failures = 0

    def _open(self) -> IPRoute:
        self._ident = threading.get_ident()
        return IPRoute()

    def on_worker(self) -> bool:
        return threading.get_ident() == self._ident

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` on the worker and return its result."""
        if self.on_worker():
            return fn(*args, **kwargs)
        return self._ex.submit(fn, *args, **kwargs).result()

    def submit(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any
               ) -> Future:
        """Queue ``fn(self.ipr_raw, ...)``-style work without waiting; a failure
        is logged (``what`` names it) and counted in :attr:`failures`."""
        def run() -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - the kernel refused; log it
                self.failures += 1
                log.error("netlink: %s failed: %s", what, exc)
                return None
        return self._ex.submit(run)

    @property
    def raw(self) -> IPRoute:
        """The real ``IPRoute``: only for functions run *on* the worker."""
        return self._ipr

    def drain(self, timeout: float | None = 10.0) -> None:
        """Wait until everything queued so far has run."""
        self._ex.submit(lambda: None).result(timeout)

    # -- interface facts ------------------------------------------------------
    def link_index(self, ifname: str) -> int | None:
        found = self.call(self._ipr.link_lookup, ifname=ifname)
        return found[0] if found else None

    def link_mtu(self, index: int) -> int:
        links = self.call(self._ipr.get_links, index)
        return (links[0].get("IFLA_MTU") if links else None) or 1500

    def link_mac(self, index: int) -> bytes | None:
        links = self.call(self._ipr.get_links, index)
        if not links:
            return None
        a = links[0].get("IFLA_ADDRESS")
        return bytes.fromhex(a.replace(":", "")) if a else None

    def close(self) -> None:
        try:
            self._ex.submit(self._ipr.close).result(10)
        finally:
            self._ex.shutdown(wait=True)
