"""Kea's commands on the router agent's control socket.

Operators of ISC Kea drive their servers with JSON commands over a Unix socket
(Kea ARM, "Management API"); the router agent answers the same commands, in
the same shape, for its delegated prefixes:

request ``{"command": NAME, "arguments": {...}}`` (``arguments`` optional),
answer ``{"result": R, "text": "...", "arguments": {...}}`` with Kea's result
codes: 0 success, 1 error, 2 command not supported, 3 empty (nothing found).

=================== ===============================================================
command             arguments → answer
=================== ===============================================================
list-commands       → the command names
version-get         → ``text`` "odm VERSION", ``arguments.extended``
status-get          → pid, uptime, reload (s since the configuration was loaded),
                      interfaces, data plane
config-get          → the running configuration file, parsed (``path``, ``config``)
config-test         ``path`` (default: the running file) → is it valid, and may it
                    be reloaded in place
config-reload       re-read the running file and apply it (as SIGHUP does)
shutdown            stop as on SIGTERM (final RAs, routes flushed)
lease6-get          ``ip-address`` (+ ``prefix-len``) or ``duid`` + ``iaid``,
                    ``type`` "IA_PD" → one lease
lease6-get-all      ``interfaces`` (optional) → ``leases``
lease6-get-page     ``from`` ("start" or an address), ``limit`` → ``leases``,
                    ``count``; pages follow prefix order
lease6-get-by-duid  ``duid`` → ``leases``
lease6-del          as lease6-get → the lease is gone from the store and its
                    route removed (the client is not told; its next Renew
                    finds no binding and, as with Kea, gets the prefix again
                    if it is still free, RFC 8415 §18.3.4)
lease6-wipe         ``interface`` (optional) → every lease (of it) deleted
statistic-get       ``name`` → ``{name: [[value, timestamp]]}``
statistic-get-all   → every statistic so
statistic-reset     ``name`` → set to 0
statistic-reset-all → every statistic set to 0
=================== ===============================================================

A lease is Kea's lease6 map (``ip-address``, ``prefix-len``, ``type``,
``duid`` colon hex, ``iaid``, ``valid-lft``, ``preferred-lft``, ``cltt``,
``state``) with odm's own keys (``mobility-type``, ``interface``, ``pool``,
``client-ll``, ``anchor``, ``served-by``). Statistics have Kea's names
(``pkt6-received``, ``assigned-pds``, ``cumulative-assigned-pds`` ...), summed
over the interfaces, and ``interface[NAME].STAT`` per interface, as Kea writes
``subnet[ID].STAT``. Every key is kebab-case.

The older requests ``{"op": "status"}`` and ``{"op": "ping"}`` are still
answered as before (``odm router status``).
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable, Iterable
from ipaddress import IPv6Address, IPv6Network
from typing import TYPE_CHECKING, Any

from odm.tomltable import ipv6_address, ipv6_prefix
from router.errors import StoreError

if TYPE_CHECKING:
    from router.core.bindings import Binding
    from router.io.agent import RouterAgent

log = logging.getLogger(__name__)

__all__ = ["COMMANDS", "KeaCommands", "lease_map"]

SUCCESS, ERROR, UNSUPPORTED, EMPTY = 0, 1, 2, 3
#: Kea's lease states: 0 default, 1 declined, 2 expired-reclaimed
_KEA_STATE = {"bound": 0, "declined": 1}


#: the commands answered; each is the method of the same name (``-`` → ``_``)
COMMANDS = ("config-get", "config-reload", "config-test", "lease6-del", "lease6-get",
            "lease6-get-all", "lease6-get-by-duid", "lease6-get-page", "lease6-wipe",
            "list-commands", "shutdown", "statistic-get", "statistic-get-all",
            "statistic-reset", "statistic-reset-all", "status-get", "version-get")


class CommandError(Exception):
    """A bad request: answered with result 1 and this text."""


def _answer(result: int, text: str, arguments: Any = None) -> dict:
    out: dict[str, Any] = {"result": result, "text": text}
    if arguments is not None:
        out["arguments"] = arguments
    return out


def lease_map(b: Binding, wall: float) -> dict:
    """Kea's lease6 map of a binding, with odm's keys."""
    pref, valid = b.lifetimes_at(wall)
    return {
        "ip-address": str(b.prefix.network_address), "prefix-len": b.prefix.prefixlen,
        "type": "IA_PD", "duid": b.duid.hex(":"), "iaid": b.iaid,
        "valid-lft": b.valid_lifetime, "preferred-lft": b.preferred_lifetime,
        "cltt": int(b.cltt), "state": _KEA_STATE.get(b.state.value, 0),
        "valid-left": valid, "preferred-left": pref,
        "mobility-type": b.mobility_type.cli_name if b.mobility_type else "legacy",
        "interface": b.interface, "pool": b.pool,
        "client-ll": str(b.client_ll) if b.client_ll else None,
        "anchor": b.anchor, "served-by": b.served_by,
    }


def _stamp(t: float) -> str:
    """Kea's statistic timestamp format."""
    return datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S.%f")


def _duid(text: Any) -> bytes:
    from router.config.model import DUID_FORM, parse_duid_text
    if not isinstance(text, str):
        raise CommandError(f"duid {text!r} is not {DUID_FORM}")
    try:
        return parse_duid_text(text)
    except ValueError as exc:
        raise CommandError(f"duid {exc}") from None


def _iaid(v: Any) -> int:
    if type(v) is not int or not 0 <= v <= 0xFFFFFFFF:
        raise CommandError(f"iaid {v!r} is not an integer 0..4294967295 (0xffffffff)")
    return v


class KeaCommands:
    """The command handlers of one :class:`~router.io.agent.RouterAgent`."""

    def __init__(self, agent: RouterAgent) -> None:
        self.agent = agent
        self.handlers: dict[str, Callable[[dict], dict]] = {
            name: getattr(self, name.replace("-", "_")) for name in COMMANDS}

    def __call__(self, req: dict) -> dict:
        name = req.get("command")
        if not isinstance(name, str):
            return _answer(ERROR, "'command' must be a string")
        handler = self.handlers.get(name)
        if handler is None:
            return _answer(UNSUPPORTED, f"'{name}' command not supported.")
        args = req.get("arguments", {})
        if not isinstance(args, dict):
            return _answer(ERROR, "'arguments' must be a map")
        try:
            return handler(args)
        except CommandError as exc:
            return _answer(ERROR, str(exc))

    # -- the daemon --------------------------------------------------------------------
    def list_commands(self, args: dict) -> dict:
        return _answer(SUCCESS, f"{len(self.handlers)} commands", sorted(self.handlers))

    def version_get(self, args: dict) -> dict:
        import platform

        import pyroute2

        from odm import __version__
        return _answer(SUCCESS, f"odm {__version__}", {
            "extended": f"odm {__version__} (Python {platform.python_version()}, "
                        f"pyroute2 {pyroute2.__version__}, {platform.system()} "
                        f"{platform.release()})"})

    def status_get(self, args: dict) -> dict:
        a = self.agent
        st = a.status(limit=0)
        return _answer(SUCCESS, "", {
            "pid": st["pid"], "uptime": st["uptime"],
            "reload": round(time.time() - a.loaded_at, 1),
            "router-id": st["router-id"], "lease-db": st["lease-db"],
            "interfaces": [i["interface"] for i in st["interfaces"]],
            "dataplane": (st.get("mobility") or {}).get("dataplane", {}).get("name"),
        })

    def config_get(self, args: dict) -> dict:
        a = self.agent
        if a.config_path is None:
            return _answer(ERROR, "the agent was started without a configuration file")
        from odm.tomltable import TOML_ERRORS, read_toml
        try:
            data = read_toml(a.config_path)
        except TOML_ERRORS as exc:
            return _answer(ERROR, f"{a.config_path}: {exc}")
        return _answer(SUCCESS, "", {"path": str(a.config_path), "config": data,
                                     "loaded-at": _stamp(a.loaded_at)})

    def config_test(self, args: dict) -> dict:
        path = args.get("path")
        if path is not None and not isinstance(path, str):
            raise CommandError("'path' must be a string")
        ok, text = self.agent.test_config(path)
        return _answer(SUCCESS if ok else ERROR, text)

    def config_reload(self, args: dict) -> dict:
        ok, text = self.agent.reload()
        return _answer(SUCCESS if ok else ERROR, text)

    def shutdown(self, args: dict) -> dict:
        self.agent.request_stop("shutdown command")
        return _answer(SUCCESS, "Shutting down.")

    # -- leases -----------------------------------------------------------------------
    def _wall(self) -> float:
        return time.time()

    def _cores(self, names: Iterable[str] | None = None):
        ifaces = self.agent.ifaces
        if names is None:
            return [st.core for st in ifaces.values()]
        unknown = [n for n in names if n not in ifaces]
        if unknown:
            raise CommandError(f"no interface {', '.join(map(repr, unknown))}; "
                               f"interfaces: {', '.join(ifaces)}")
        return [ifaces[n].core for n in names]

    def _stored(self, bindings: list[Binding]) -> list[Binding]:
        """The store's rows of ``bindings``: with routers sharing the store
        (``[mobility]``), another router may have taken over or ended a
        binding this agent still holds in memory (its own view follows at the
        host's next exchange here, or at expiry); what the operator is shown
        is the store's, as Kea's lease commands show its lease backend."""
        if self.agent.config.mobility is None or not bindings:
            return bindings
        store = self.agent.store
        try:
            if len(bindings) <= 16:  # a lease or a client's: by prefix, not the whole table
                found = (store.find_prefix(b.prefix) for b in bindings)
                return [r for r in found if r is not None]
            rows = {r.prefix: r for r in store.all()}
        except StoreError as exc:
            raise CommandError(f"the lease store cannot be read: {exc}") from None
        return [rows[b.prefix] for b in bindings if b.prefix in rows]

    def _find(self, args: dict) -> list[tuple[Any, Binding]]:
        found = self._find_held(args)
        stored = {b.prefix: b for b in self._stored([b for _, b in found])}
        return [(c, stored[b.prefix]) for c, b in found if b.prefix in stored]

    def _find_held(self, args: dict) -> list[tuple[Any, Binding]]:
        """(core, binding) pairs that ``args`` names: ``ip-address`` (with or
        without ``prefix-len`` or a ``/len``), or ``duid`` + ``iaid``."""
        t = args.get("type", "IA_PD")
        if t != "IA_PD":
            raise CommandError(f"type {t!r}: odm delegates prefixes only (type 'IA_PD')")
        cores = self._cores()
        if "ip-address" in args:
            text = args["ip-address"]
            if not isinstance(text, str):
                raise CommandError("'ip-address' must be a string")
            plen = args.get("prefix-len")
            if plen is not None and (type(plen) is not int or not 0 <= plen <= 128):
                raise CommandError(f"prefix-len {plen!r} is not an integer 0..128")
            try:
                if "/" in text:
                    nets = [ipv6_prefix(text)]
                elif plen is not None:
                    nets = [ipv6_prefix(f"{ipv6_address(text)}/{plen}")]
                else:
                    addr = ipv6_address(text)
                    nets = [IPv6Network((addr, n)) for n in range(128, 0, -1)
                            if int(addr) & ((1 << (128 - n)) - 1) == 0]
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            for net in nets:
                for core in cores:
                    b = core.dhcp.table.get(net)
                    if b is not None:
                        return [(core, b)]
            return []
        if "duid" in args:
            duid, iaid = _duid(args["duid"]), _iaid(args.get("iaid"))
            return [(c, b) for c in cores for b in c.dhcp.table.client(duid, iaid)]
        raise CommandError("give 'ip-address' (and 'prefix-len') or 'duid' and 'iaid'")

    def lease6_get(self, args: dict) -> dict:
        found = self._find(args)
        if not found:
            return _answer(EMPTY, "Lease not found.")
        return _answer(SUCCESS, "IPv6 lease found.", lease_map(found[0][1], self._wall()))

    def _leases(self, cores) -> list[Binding]:
        # by address, then length (the order of the bindings' integer keys)
        return sorted(self._stored([b for c in cores for b in c.dhcp.table]),
                      key=lambda b: b.key)

    def _many(self, leases: list[Binding], extra: dict | None = None) -> dict:
        wall = self._wall()
        maps = [lease_map(b, wall) for b in leases]
        return _answer(SUCCESS if maps else EMPTY, f"{len(maps)} IPv6 lease(s) found.",
                       {"leases": maps, **(extra or {})})

    def lease6_get_all(self, args: dict) -> dict:
        names = args.get("interfaces")
        if names is not None and (not isinstance(names, list)
                                  or not all(isinstance(n, str) for n in names)):
            raise CommandError("'interfaces' must be a list of interface names")
        return self._many(self._leases(self._cores(names)))

    def lease6_get_page(self, args: dict) -> dict:
        limit = args.get("limit")
        if type(limit) is not int or limit < 1:
            raise CommandError("'limit' must be an integer > 0")
        start = args.get("from", "start")
        if not isinstance(start, str):
            raise CommandError("'from' must be \"start\" or an IPv6 address")
        after = -1
        if start != "start":
            try:
                after = int(IPv6Address(start.split("/")[0]))
            except ValueError as exc:
                raise CommandError(f"'from': {exc}") from None
        page = [b for b in self._leases(self._cores()) if b.key >> 8 > after][:limit]
        return self._many(page, {"count": len(page)})

    def lease6_get_by_duid(self, args: dict) -> dict:
        duid = _duid(args.get("duid"))
        return self._many(sorted(self._stored([b for c in self._cores() for b in c.dhcp.table
                                               if b.duid == duid]), key=lambda b: b.iaid))

    def lease6_del(self, args: dict) -> dict:
        found = self._find(args)
        if not found:
            return _answer(EMPTY, "IPv6 lease not found.")
        for core, b in found:
            core.dhcp.delete_binding(b.prefix)
            log.info("lease6-del: %s (DUID %s, IAID 0x%08x) deleted by the operator",
                     b.prefix, b.duid.hex(":"), b.iaid)
        self.agent.flush_cores()
        return _answer(SUCCESS, "IPv6 lease deleted.")

    def lease6_wipe(self, args: dict) -> dict:
        name = args.get("interface")
        if name is not None and not isinstance(name, str):
            raise CommandError("'interface' must be a string")
        n = 0
        for core in self._cores([name] if name else None):
            for b in list(core.dhcp.table):
                n += core.dhcp.delete_binding(b.prefix, "lease6-wipe")
        self.agent.flush_cores()
        log.info("lease6-wipe: %d leases deleted by the operator%s", n,
                 f" on {name}" if name else "")
        return _answer(SUCCESS, f"Deleted {n} IPv6 lease(s)"
                       + (f" from interface {name}." if name else "."))

    # -- statistics ----------------------------------------------------------------------
    def _stats(self) -> dict[str, int]:
        st = self.agent.status(limit=0)
        total: dict[str, int] = {}
        per: dict[str, int] = {}
        for i in st["interfaces"]:
            c = dict(i["counters"])
            c["total-pds"] = sum(p["total-pds"] for p in i["pools"])
            c["assigned-pds"] = sum(p["assigned-pds"] for p in i["pools"])
            for k, v in c.items():
                total[k] = total.get(k, 0) + v
                per[f"interface[{i['interface']}].{k}"] = v
        total.update(st["adapter"])
        return total | per

    def statistic_get(self, args: dict) -> dict:
        name = args.get("name")
        if not isinstance(name, str):
            raise CommandError("'name' must be a string")
        stats = self._stats()
        if name not in stats:
            return _answer(EMPTY, f"No '{name}' statistic found")
        return _answer(SUCCESS, "", {name: [[stats[name], _stamp(self._wall())]]})

    def statistic_get_all(self, args: dict) -> dict:
        now = _stamp(self._wall())
        return _answer(SUCCESS, "", {k: [[v, now]] for k, v in sorted(self._stats().items())})

    def statistic_reset(self, args: dict) -> dict:
        name = args.get("name")
        if not isinstance(name, str):
            raise CommandError("'name' must be a string")
        if not self.agent.reset_statistic(name):
            return _answer(EMPTY, f"No '{name}' statistic found")
        return _answer(SUCCESS, f"'{name}' statistic reset")

    def statistic_reset_all(self, args: dict) -> dict:
        self.agent.reset_statistic(None)
        return _answer(SUCCESS, "All statistics reset to neutral values.")
