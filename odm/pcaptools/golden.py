"""The golden captures in ``pcaps/``: their manifest, and the agents they are
replayed against.

``pcaps/golden.toml`` (written by ``pcaps/regenerate.py``) lists every capture:

.. code-block:: toml

    [[capture]]
    file = "pd-fixed.pcap"
    what = "typed acquisition of FIXED: Solicit, Advertise, Request, Reply"
    routers = ["ar1"]                 # pcaps/ar1.toml ... in the lab's router namespaces
    host = "odm"                      # "odm" (host agent, pcaps/host.toml) or the peer's name
    against = ["router", "host"]      # the sides it can be replayed against
    actions = [{before_frame = 3, do = "setsc", type = "fixed", owner = 1}]

:func:`load_manifest` reads it. :func:`core_router_peer` and
:func:`core_host_peer` build the in-memory peers (odm's sans-I/O cores with
the captures' configurations: ``pcaps/ar1.toml``, ``ar2.toml``,
``host.toml``), so a capture can be replayed without a network; the lab
runner (:mod:`odm.pcaptools.labrun`) starts the real agents.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from ipaddress import IPv6Address
from pathlib import Path

from odm.pcaptools.conformance import Action
from odm.pcaptools.corepeers import CoreHostPeer, CoreRouterPeer
from odm.tomltable import TOML_ERRORS, read_toml

__all__ = [
    "GOLDEN_DIR",
    "HOST_LL",
    "HOST_MAC",
    "ROUTER_LL",
    "ROUTER_MAC",
    "Golden",
    "ManifestError",
    "core_host_peer",
    "core_router_peer",
    "find_golden",
    "host_config",
    "load_manifest",
    "router_config",
]

#: pcaps/ of the source tree (override with ODM_PCAPS)
GOLDEN_DIR = Path(os.environ.get("ODM_PCAPS", Path(__file__).resolve().parents[2] / "pcaps"))
#: lab addresses (lab/config/model.py): the routers' acc bridges and the host's mh0
ROUTER_LL = {"ar1": IPv6Address("fe80::1"), "ar2": IPv6Address("fe80::2")}
ROUTER_MAC = {"ar1": bytes.fromhex("02000000a101"), "ar2": bytes.fromhex("02000000a201")}
HOST_MAC = bytes.fromhex("020000000010")
HOST_LL = IPv6Address("fe80::ff:fe00:10")


class ManifestError(ValueError):
    """``pcaps/golden.toml`` is missing, unreadable or inconsistent."""


@dataclass(frozen=True)
class Golden:
    """One golden capture: ``path`` (the pcap), ``what`` it shows, the
    ``routers`` (config names in ``pcaps/``) and ``host`` (``"odm"`` or a
    third-party client's name) that made it, the sides it can be replayed
    ``against`` and the :class:`Action` list."""

    path: Path
    what: str
    routers: tuple[str, ...] = ("ar1",)
    host: str = "odm"
    against: tuple[str, ...] = ("router", "host")
    actions: tuple[Action, ...] = ()
    produce: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.stem


def load_manifest(directory: str | Path = GOLDEN_DIR) -> list[Golden]:
    """Every capture listed in ``directory/golden.toml``. Raises
    :class:`ManifestError` when the file is missing or an entry is bad."""
    d = Path(directory)
    try:
        doc = read_toml(d / "golden.toml")
    except TOML_ERRORS as exc:
        raise ManifestError(f"{d / 'golden.toml'}: {exc}") from None
    out = []
    for i, c in enumerate(doc.get("capture", [])):
        c = dict(c)
        try:
            out.append(Golden(
                path=d / c.pop("file"), what=c.pop("what", ""),
                routers=tuple(c.pop("routers", ["ar1"])), host=c.pop("host", "odm"),
                against=tuple(c.pop("against", ["router", "host"])),
                actions=tuple(Action.from_dict(a) for a in c.pop("actions", [])),
                produce=c.pop("produce", ""), extra=c))
        except (KeyError, ValueError, TypeError) as exc:
            raise ManifestError(f"golden.toml capture[{i}]: {exc}") from None
    return out


def find_golden(path: str | Path) -> Golden | None:
    """The manifest entry of the capture at ``path`` (looked up in the
    ``golden.toml`` beside it), or None."""
    p = Path(path).resolve()
    try:
        entries = load_manifest(p.parent)
    except ManifestError:
        return None
    return next((g for g in entries if g.path.resolve() == p), None)


def router_config(name: str, workdir: str | Path, directory: str | Path = GOLDEN_DIR):
    """``pcaps/{name}.toml`` parsed with its relative paths (lease store,
    control socket) taken from ``workdir``: a :class:`router.config.RouterConfig`."""
    from router.config import parse_config

    data = read_toml(Path(directory) / f"{name}.toml")
    return parse_config(data, base_dir=Path(workdir))


def host_config(workdir: str | Path, directory: str | Path = GOLDEN_DIR, **overrides):
    """``pcaps/host.toml`` with the API socket and secret file in ``workdir``:
    a validated :class:`host.config.HostConfig`."""
    from host.config import config_from_mapping

    table = read_toml(Path(directory) / "host.toml")["host"]
    table.setdefault("api_socket", str(Path(workdir) / "host.sock"))
    table.setdefault("secret_file", str(Path(workdir) / "host.secret"))
    return config_from_mapping(table, **overrides)


def core_router_peer(golden: Golden, workdir: str | Path, *, now: float = 1000.0,
                     directory: str | Path = GOLDEN_DIR, wrap=None) -> CoreRouterPeer:
    """Router cores for ``golden``'s routers, sharing one fresh SQLite lease
    store in ``workdir``, started at ``now``. ``wrap(name, core)`` may return
    a stand-in for a core (tests change its answers that way)."""
    from odm_wire.dhcp6 import DuidLL
    from router.core.router import RouterCore
    from router.store import SqliteLeaseStore

    routers = {}
    for i, name in enumerate(golden.routers):
        cfg = router_config(name, workdir, directory)
        store = SqliteLeaseStore(cfg.lease_db, synchronous="off")
        core = RouterCore(cfg, "acc", store, DuidLL(1, ROUTER_MAC[name]),
                          clock_offset=1.7e9, rng=random.Random(i + 1),
                          link_layer_address=ROUTER_MAC[name])
        core.start(now)
        core.datagrams_to_send()  # the initial RAs went out before the capture
        routers[name] = wrap(name, core) if wrap else core
    return CoreRouterPeer(routers, now=now, src=HOST_LL,
                          router_ll={n: ROUTER_LL[n] for n in routers if n in ROUTER_LL})


def core_host_peer(golden: Golden, workdir: str | Path, *, now: float = 1000.0,
                   directory: str | Path = GOLDEN_DIR, start: bool = True,
                   **overrides) -> CoreHostPeer:
    """A host core with ``pcaps/host.toml`` (``overrides`` change fields),
    attached to ``golden``'s first router; started at ``now`` unless
    ``start`` is false."""
    from host.core.host import HostCore
    from odm_wire.dhcp6 import DuidLL

    cfg = host_config(workdir, directory, **overrides)
    core = HostCore(cfg, DuidLL(1, HOST_MAC), bytes.fromhex(cfg.secret or "00"),
                    mac=HOST_MAC, rng=random.Random(7))
    peer = CoreHostPeer(core, {n: ROUTER_LL[n] for n in golden.routers}, now=now)
    peer.host_ll = HOST_LL
    if start:
        peer.start()
    return peer
