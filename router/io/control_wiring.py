"""The router agent's operator side: what the control socket
(:mod:`router.io.control`, Kea's commands in :mod:`router.io.commands`) and
SIGHUP ask of a running agent -- status, statistics reset, configuration test
and reload, stop. :class:`ControlWiring` is a part of
:class:`router.io.agent.RouterAgent`.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from odm.sdnotify import notify
from router.config import ConfigError, RouterConfig

log = logging.getLogger("router.agent")

__all__ = ["ControlWiring"]


#: settings only a restart changes, by the config key an operator edits
_RESTART_KEYS = {"router_id": "router.id", "lease_db": "router.lease_db",
                 "lease_db_synchronous": "router.lease_db_synchronous",
                 "lease_store": "[lease_store]", "control_socket": "router.control_socket",
                 "server_duid": "router.server_duid", "mobility": "[mobility]"}


class ControlWiring:
    """Status, reload and the control socket's requests (``config``,
    ``ifaces``, ``stats``, ``_core``, ``_kick`` and the rest come from
    :class:`~router.io.agent.RouterAgent`)."""

    def status(self, limit: int | None = None) -> dict:
        """Everything ``odm router status`` shows, JSON-ready; at most
        ``limit`` bindings per interface (None: all)."""
        now = self.now()
        st: dict[str, Any] = {
            "router-id": self.config.router_id,
            "pid": os.getpid(),
            "uptime": round(time.time() - self._started_at, 1),
            "server-duid": bytes(self.duid).hex(":") if self.duid else None,
            "lease-db": self.config.store_description(),
            "adapter": dict(self.stats) | {
                "netlink-failures": (self.nl.failures if self.nl else 0)
                + (self.routes.failures if self.routes else 0),
                "route-add-failed": self.routes.add_failures if self.routes else 0,
                "route-delete-failed": self.routes.delete_failures if self.routes else 0},
            "interfaces": [s.core.status(now, limit) for s in self.ifaces.values()],
        }
        if self.commits is not None:
            c = self.commits
            st["lease-db-commits"] = dict(c.stats) | {"in-flight": c.in_flight,
                                                      "healthy": c.healthy}
        if self.mobility is not None and hasattr(self.mobility, "status"):
            try:
                st["mobility"] = self.mobility.status()
            except Exception as exc:  # noqa: BLE001
                st["mobility"] = {"error": repr(exc)}
        return st

    def flush_cores(self) -> None:
        """Commit, send and carry out what every core has now (after an
        operator's change to the bindings)."""
        for st in self.ifaces.values():
            self._kick(st)

    def request_stop(self, why: str) -> None:
        log.info("stopping: %s", why)
        if self._stop is not None:
            self._stop.set()

    def reset_statistic(self, name: str | None) -> bool:
        """Set statistic ``name`` (``pkt6-received``, or
        ``interface[IF].pkt6-received``) to 0 everywhere it is counted, or
        every statistic when ``name`` is None. ``False`` if no such name."""
        found = False
        for st in self.ifaces.values():
            for counters in (st.core.dhcp.stats, st.core.ra.stats):
                for k in counters:
                    if name is None or name in (k, f"interface[{st.name}].{k}"):
                        counters[k] = 0
                        found = True
        for k in self.stats:
            if name is None or name == k:
                self.stats[k] = 0
                found = True
        return found

    def _read_config(self, path: str | Path | None) -> RouterConfig:
        p = Path(path) if path is not None else self.config_path
        if p is None:
            raise ConfigError("", "the agent was started without a configuration file")
        return self._loader(p)

    def _restart_only(self, new: RouterConfig) -> list[str]:
        """The settings that differ from the running ones and cannot change
        without a restart."""
        old = self.config
        keys = [key for k, key in _RESTART_KEYS.items() if getattr(old, k) != getattr(new, k)]
        if [i.name for i in old.interfaces] != [i.name for i in new.interfaces]:
            keys.append("interface[].name")
        return keys

    def test_config(self, path: str | Path | None = None) -> tuple[bool, str]:
        """Kea's ``config-test``: is the file valid, and could it be reloaded."""
        try:
            new = self._read_config(path)
        except (ConfigError, OSError) as exc:
            return False, f"configuration is not valid: {exc}"
        restart = self._restart_only(new)
        if restart:
            return True, ("Configuration seems sane; a reload would refuse it (needs a "
                          f"restart: {', '.join(restart)}).")
        return True, "Configuration seems sane."

    def reload(self) -> tuple[bool, str]:
        """Re-read the configuration file and apply it in place (SIGHUP,
        ``config-reload``): a new core per interface under the new settings
        (pools, RAs, lifetimes, limits...), bindings read back from the store,
        counters carried over, routes untouched. RA pacing goes on where the
        interface's RA is unchanged; where it changed, the initial fast RAs
        (RFC 4861 §6.2.4, :meth:`RaSender._continue`), prefixes no longer
        configured advertised with lifetimes 0. A file that is not
        valid, or that changes what only a restart can change, is refused and
        the agent runs on as before."""
        try:
            new = self._read_config(None)
        except (ConfigError, OSError) as exc:
            log.error("configuration reload refused, running on the old one: %s", exc)
            return False, f"configuration reload refused: {exc}"
        restart = self._restart_only(new)
        if restart:
            msg = (f"configuration reload refused, running on the old one: "
                   f"{', '.join(restart)} changed (needs a restart)")
            log.error("%s", msg)
            return False, msg
        if self.dataplane is not None:
            new = self._fit_mtu(new, [(st.name, st.index, st.mac)
                                      for st in self.ifaces.values()])
        self.flush_cores()  # what the old cores owe is committed and sent first
        if self.commits is not None and self.commits.in_flight:
            # the new cores read the bindings back from the store: not while
            # a commit of the old ones is still on its way to the database
            return False, "lease database commits in flight: reload again in a moment"
        now = self.now()
        offset = time.time() - now
        for st in self.ifaces.values():
            old = st.core
            core = self._core(new, st.name, st.mac, offset)
            core.take_over(old)
            if st.timer is not None:
                st.timer.cancel()
                st.timer = st.timer_at = None
            st.core = core
        self.config = new
        for st in self.ifaces.values():
            st.core.start(now, self._stale_ra_prefixes(st))
            self._kick(st)
        self._source_validation()  # the link's prefixes may have changed
        self.loaded_at = time.time()
        log.info("configuration reloaded from %s", self.config_path)
        return True, "Configuration successful."

    def _on_sighup(self) -> None:
        log.info("SIGHUP: reloading %s", self.config_path)
        notify("RELOADING=1")
        self._reload_tries = 0
        self._sighup_reload()

    def _sighup_reload(self) -> None:
        try:
            ok, text = self.reload()
            if not ok and "in flight" in text and self._reload_tries < 100:
                self._reload_tries += 1
                self.loop.call_later(0.05, self._sighup_reload)
                return
            if not ok and "in flight" in text:
                log.error("configuration reload given up after 5 s: %s", text)
        except Exception:  # a reload never stops the agent
            self.stats["adapter-errors"] += 1
            log.exception("configuration reload failed; running on")
            ok, text = False, "reload failed"
        notify("READY=1", f"STATUS={'serving' if ok else text}")

    def _on_control(self, req: dict) -> dict:
        if "command" in req:  # Kea's control channel (router/io/commands.py)
            return self._commands(req)
        op = req.get("op")
        if op == "status":
            limit = req.get("limit")
            if limit is not None and (type(limit) is not int or limit < 0):
                return {"ok": False, "error": "EINVAL", "detail": "limit must be an integer >= 0"}
            return {"ok": True, "status": self.status(limit)}
        if op == "ping":
            return {"ok": True}
        return {"ok": False, "error": "EINVAL", "detail": f"unknown op {op!r}"}
