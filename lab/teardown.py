"""The lab's teardown: stop its processes, delete its interfaces, remove its
namespaces and its state file -- exactly what the lab made, as its state file
records it, in this process or a later one (a part of
:class:`lab.topology.Lab`); and :meth:`LabTeardown.list_labs`, the labs left
recorded."""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute, NetlinkError
from pyroute2 import netns as _netns

from lab import nsutil
from lab.config import (
    ACCESS_BRIDGE,
    ACCESS_PORT,
    CN,
    CORE_BRIDGE,
    DEFAULT_STATE_DIR,
    HOST,
    HOST_IF,
    ROUTER_CORE_IF,
    LabConfig,
    LabConfigError,
)
from lab.errors import LabError
from lab.state import StateStore

log = logging.getLogger("lab.topology")

_ENODEV = 19

__all__ = ["LabTeardown"]


class LabTeardown:
    """:meth:`down` and :meth:`list_labs` (``_stop_all`` comes from
    :class:`lab.processes.LabProcesses`)."""

    def _lab_ifnames(self, node: str) -> list[str]:
        if node == CN:
            return [*self.config.router_names, CORE_BRIDGE]
        if node == HOST:
            return [HOST_IF]
        return [ACCESS_PORT, ROUTER_CORE_IF, ACCESS_BRIDGE]

    def down(self, timeout: float = 5.0) -> dict[str, Any]:
        """Remove everything the lab made: stop its processes (by recorded PID and
        start time: ``stop_signal``, then SIGKILL after ``timeout`` seconds),
        delete its interfaces, remove its namespaces, delete the state file.

        Idempotent: safe to call twice, on a lab that was never up, or in a new
        process after a crash (the state file says what to remove). Things
        already gone are skipped silently. Processes inside the namespaces that
        the lab did not start are not signalled; they are reported under
        ``"foreign_pids"`` (their namespace is still unmounted).

        Returns:
            ``{"stopped": [pid...], "links_deleted": ["node/ifname"...],
            "netns_removed": [name...], "foreign_pids": {netns: [pid...]},
            "errors": []}``.

        Raises:
            LabError: something that exists could not be removed (the state
                file is kept so that ``down()`` can be retried); the message
                lists the errors.
        """
        report: dict[str, Any] = {"stopped": [], "links_deleted": [], "netns_removed": [],
                                  "foreign_pids": {}, "errors": []}
        with self._store.locked():
            try:
                st = self._store.load()
            except (ValueError, OSError) as exc:
                report["errors"].append(f"state unreadable: {exc}")
                st = None
            cfg = self.config
            if st is not None:
                with contextlib.suppress(KeyError, LabConfigError):
                    cfg = replace(LabConfig.from_dict(st["config"]), state_dir=cfg.state_dir)
            self.config = cfg
            recorded_ns = list((st or {}).get("netns", []))
            ns_names = list(dict.fromkeys(recorded_ns + self._netns_made))

            # 1. processes (recorded ones and our own children)
            items: dict[int, tuple[int, int | None, int, subprocess.Popen | None]] = {}
            for p in (st or {}).get("processes", []):
                items[p["pid"]] = (p["pid"], p.get("starttime"),
                                   p.get("stop_signal", signal.SIGTERM),
                                   self._children.get(p["pid"]))
            for pid, child in self._children.items():
                items.setdefault(pid, (pid, None, signal.SIGTERM, child))
            try:
                report["stopped"] = self._stop_all(list(items.values()), timeout)
            except Exception as exc:  # noqa: BLE001 - keep cleaning
                report["errors"].append(f"stopping processes: {exc}")
            self._children.clear()

            # 2. interfaces, 3. namespaces
            node_of = {}
            for node in cfg.nodes:
                node_of[cfg.netns(node)] = node
            foreign = {}
            try:
                all_pids = _netns.ns_pids() if ns_names else {}
            except Exception:  # noqa: BLE001 - informational only
                all_pids = {}
            for name in ns_names:
                if not nsutil.netns_exists(name):
                    continue
                if all_pids.get(name):
                    foreign[name] = sorted(all_pids[name])
                node = node_of.get(name)
                if node is not None:
                    try:
                        report["links_deleted"] += self._delete_links(name, node)
                    except Exception as exc:  # noqa: BLE001
                        report["errors"].append(f"deleting links in {name}: {exc}")
                try:
                    _netns.remove(name)
                    report["netns_removed"].append(name)
                except FileNotFoundError:
                    pass
                except Exception as exc:  # noqa: BLE001
                    report["errors"].append(f"removing netns {name}: {exc}")
            report["foreign_pids"] = foreign
            for name, pids in foreign.items():
                log.warning("lab %s: namespace %s still had processes not started by the lab: %s",
                            cfg.prefix, name, pids)
            self._netns_made = [n for n in self._netns_made if nsutil.netns_exists(n)]

            if report["errors"]:
                if st is not None:
                    st["phase"] = "failed"
                    with contextlib.suppress(Exception):
                        self._store.save(st)
                raise LabError(f"lab {cfg.prefix!r}: down incomplete: "
                               + "; ".join(report["errors"]))
            self._store.remove()
        self._brought_up = False
        if report["netns_removed"] or report["stopped"]:
            log.info("lab %s down: %s", cfg.prefix, report)
        return report

    def _delete_links(self, name: str, node: str) -> list[str]:
        deleted = []
        ipr = IPRoute(netns=name, flags=0)
        try:
            for ifname in self._lab_ifnames(node):
                found = ipr.link_lookup(ifname=ifname)
                if not found:
                    continue
                idx = found[0]
                try:
                    ipr.link("del", index=idx)
                    deleted.append(f"{node}/{ifname}")
                except NetlinkError as exc:
                    if exc.code != _ENODEV:
                        raise
        finally:
            ipr.close()
        return deleted

    # -- discovery -------------------------------------------------------------------

    @staticmethod
    def list_labs(state_dir: str | Path = DEFAULT_STATE_DIR) -> list[dict[str, Any]]:
        """Labs recorded under ``state_dir``: ``[{"prefix", "phase", "owner_pid",
        "owner_alive"}]``. ``owner_alive`` False means the process that ran
        ``up()`` is gone (normal after ``odm lab up``; a leftover for tests)."""
        out = []
        base = Path(state_dir)
        if not base.is_dir():
            return out
        for sub in sorted(base.iterdir()):
            store = StateStore(sub / "state.json")
            try:
                st = store.load()
            except (ValueError, OSError):
                continue
            if st is None:
                continue
            owner = st.get("owner") or {}
            out.append({
                "prefix": st.get("prefix", sub.name),
                "phase": st.get("phase"),
                "owner_pid": owner.get("pid"),
                "owner_alive": bool(owner.get("pid"))
                and nsutil.proc_alive(owner["pid"], owner.get("starttime")),
            })
        return out
