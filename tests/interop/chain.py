"""Network namespaces in a line, the odm router agent at the head: the
fixture of the interop tests with a node between the router and its client
(a DHCPv6 relay on the link, or a router then a relay: tests/interop/
test_relay_dhcrelay.py).

``chain(workdir, ["rtr", "mid", "rel", "cli"])`` makes one namespace per name
and one veth pair between each two neighbours: node ``i``'s interface towards
node ``i+1`` is ``down[name]``, node ``i+1``'s towards node ``i`` is
``up[name]``. Every node but the last forwards; DAD and RA processing are off
everywhere and TX checksum offload is off on every end (captures carry real
checksums). The :class:`router_pair.RouterPair` in ``.pair`` runs the router
agent on the head's ``down`` interface and processes anywhere; everything it
started is stopped by PID and every namespace (with its veths) removed on
exit, also on failure.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from probe_netns import _wait_ll
from router_pair import RouterPair


@dataclass
class Chain:
    names: list[str]
    ns: dict[str, str]
    up: dict[str, str] = field(default_factory=dict)
    down: dict[str, str] = field(default_factory=dict)
    pair: RouterPair | None = None

    def addr(self, name: str, ifname: str, address: str, prefixlen: int = 64) -> None:
        """Add ``address/prefixlen`` to ``ifname`` of node ``name``."""
        from pyroute2 import NetNS
        with NetNS(self.ns[name]) as n:
            n.addr("add", index=n.link_lookup(ifname=ifname)[0], address=address,
                   prefixlen=prefixlen)

    def route(self, name: str, dst: str, gateway: str, ifname: str) -> None:
        """A static route ``dst`` via ``gateway`` out of ``ifname`` in node ``name``."""
        from pyroute2 import NetNS
        with NetNS(self.ns[name]) as n:
            n.route("add", dst=dst, gateway=gateway,
                    oif=n.link_lookup(ifname=ifname)[0])


@contextmanager
def chain(workdir: Path, names: Sequence[str], tag: str = "h2") -> Iterator[Chain]:
    """Create the line of namespaces (module docstring), yield a
    :class:`Chain`, remove everything afterwards."""
    from pyroute2 import IPRoute, NetNS, netns

    from lab.nsutil import ns_sysctls, ns_tx_checksum, run_in_netns

    h = secrets.token_hex(3)
    names = list(names)
    c = Chain(names, {n: f"{tag}{n[:3]}{h}" for n in names})
    for i in range(len(names) - 1):
        c.down[names[i]] = f"{tag}{h}{i}d"
        c.up[names[i + 1]] = f"{tag}{h}{i}u"
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    c.pair = RouterPair(c.ns[names[0]], c.ns[names[-1]], c.down[names[0]], c.up[names[-1]],
                        workdir)
    created: list[str] = []
    try:
        for n in names:
            netns.create(c.ns[n])
            created.append(c.ns[n])
            run_in_netns(c.ns[n], ns_sysctls, {"net.ipv6.conf.default.accept_dad": 0,
                                               "net.ipv6.conf.all.accept_dad": 0,
                                               "net.ipv6.conf.default.accept_ra": 0})
        with IPRoute() as ipr:
            for i in range(len(names) - 1):
                a, b = names[i], names[i + 1]
                ipr.link("add", ifname=c.down[a], kind="veth", peer=c.up[b])
                for ifn, mac, ns in ((c.down[a], f"02:00:00:00:{i + 1:02x}:01", c.ns[a]),
                                     (c.up[b], f"02:00:00:00:{i + 1:02x}:02", c.ns[b])):
                    idx = ipr.link_lookup(ifname=ifn)[0]
                    ipr.link("set", index=idx, address=mac)
                    ipr.link("set", index=idx, net_ns_fd=ns)
        for n in names:
            ifs = [x for x in (c.up.get(n), c.down.get(n)) if x]
            with NetNS(c.ns[n]) as nn:
                nn.link("set", index=nn.link_lookup(ifname="lo")[0], state="up")
                for ifn in ifs:
                    nn.link("set", index=nn.link_lookup(ifname=ifn)[0], state="up")
            run_in_netns(c.ns[n], ns_tx_checksum, ifs, False)
            if n != names[-1]:
                run_in_netns(c.ns[n], ns_sysctls, {"net.ipv6.conf.all.forwarding": 1})
        for n in names:
            for ifn in (c.up.get(n), c.down.get(n)):
                if ifn:
                    _wait_ll(c.ns[n], ifn)
        yield c
    finally:
        c.pair.stop_all()
        with IPRoute() as ipr:  # a veth not yet moved into its namespace
            for ifn in [*c.down.values(), *c.up.values()]:
                for idx in ipr.link_lookup(ifname=ifn):
                    ipr.link("del", index=idx)
        for ns in created:
            try:
                netns.remove(ns)
            except Exception as exc:  # noqa: BLE001
                print(f"cannot remove {ns}: {exc}")
