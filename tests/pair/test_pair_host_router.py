"""Host core and router core joined in memory (no sockets, fake clock):
acquisition, renewal, rebind, expiry and release, typed and legacy."""

from __future__ import annotations

import random
import tomllib
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

import pytest

router_core = pytest.importorskip("router.core.router")

from host.config import HostConfig
from host.core.events import (
    AddressAdded,
    PrefixBound,
    PrefixExpired,
    PrefixRemoved,
    PrefixRenewed,
    SetscCompleted,
)
from host.core.host import HostCore
from odm_sansio import linksim
from odm_wire.constants import MobilityType as MT
from odm_wire.dhcp6 import DuidLL, Rebind, Release, Renew, decode_dhcp6
from router.config import parse_config

RLL, HLL = IPv6Address("fe80::ff:fe00:1"), IPv6Address("fe80::ff:fe00:2")
EXAMPLE = Path(__file__).resolve().parents[2] / "router" / "example.toml"

POOLS = {
    None: IPv6Network("2001:db8:8000::/40"),
    MT.FIXED: IPv6Network("2001:db8:f000::/40"),
    MT.SESSION_LASTING: IPv6Network("2001:db8:5000::/40"),
    MT.NON_PERSISTENT: IPv6Network("2001:db8:3000::/40"),
    MT.GRACEFUL_REPLACEMENT: IPv6Network("2001:db8:4000::/40"),
}


#: router/example.toml's on-link PIO, typed NON_PERSISTENT
ONLINK_NP = IPv6Network("2001:db8:1::/64")


class Link(linksim.Link):
    """The access link (:mod:`odm_sansio.linksim`): carries datagrams both ways
    while ``up``; records the host's DHCPv6 messages and events; the kernel's
    DAD is done at once."""

    def __init__(self, host: HostCore, router) -> None:
        super().__init__(on_send=self._sent)
        self.host, self.router = host, router
        self.sent: list = []
        self.events: list = []
        self.add("host", host, HLL, on_event=self.dad_done(host, AddressAdded, self.events))
        self.add("router", router, RLL)

    def _sent(self, member, o) -> None:
        if member.core is self.host and o.kind == "dhcp6":
            self.sent.append(decode_dhcp6(o.payload))

    def take(self, cls):
        out = [e for e in self.events if type(e) is cls]
        self.events[:] = [e for e in self.events if type(e) is not cls]
        return out


@pytest.fixture
def link(tmp_path, store_factory):
    text = EXAMPLE.read_text().replace('name = "eth1"', 'name = "ar0"')
    data = tomllib.loads(text)
    data["router"]["lease_db"] = str(tmp_path / "leases.sqlite3")
    data["router"]["control_socket"] = str(tmp_path / "router.sock")
    for p in data["interface"][0]["pd_pool"]:  # short lifetimes to watch them run
        p.update(preferred_lifetime=100, valid_lifetime=200)
        p.pop("t1", None)
        p.pop("t2", None)
    data["interface"][0].pop("reservation", None)
    cfg = parse_config(data)
    store = store_factory("leases")
    r = router_core.RouterCore(cfg, "ar0", store, DuidLL(1, b"\x02\0\0\0\0\x01"),
                               rng=random.Random(1), link_layer_address=b"\x02\0\0\0\0\x01")
    h = HostCore(HostConfig(iface="mh0", first_solicit_delay=False, secret="00",
                            setsc_timeout=3.0).validate(),
                 DuidLL(1, b"\x02\0\0\0\0\x02"), b"k", rng=random.Random(2))
    lk = Link(h, r)
    r.start(0.0)
    h.start(0.0)
    lk.pump()
    lk.run_until(2.0)
    yield lk
    store.close()


def test_legacy_prefix_bound_at_start_without_any_type(link):
    (b,) = link.take(PrefixBound)
    assert b.mobility_type is None and b.prefix.subnet_of(POOLS[None])
    typed = [o for m in link.sent for _, o in m.iter_options()
             if type(o).__name__ == "OdmVendorOpts"]
    assert typed == []  # spec §5.2: no app asked, no type sent


@pytest.mark.parametrize("t", list(MT))
def test_typed_setsc_acquires_from_the_typed_pool(link, t):
    link.host.setsc(1, 1, t, link.now)
    link.pump()
    (done,) = link.take(SetscCompleted)
    assert done.error is None
    if t == MT.NON_PERSISTENT and done.address in ONLINK_NP:
        return  # the RA's typed PIO already gave an address of the type
    assert IPv6Network(f"{done.address}/56", strict=False).subnet_of(POOLS[t])
    assert [b.mobility_type for b in link.take(PrefixBound)][-1] == t


def test_renew_at_t1_extends_and_rebind_when_router_silent(link):
    link.host.setsc(1, 1, MT.SESSION_LASTING, link.now)
    link.pump()
    (b,) = [e for e in link.take(PrefixBound) if e.mobility_type]
    link.sent.clear()
    link.run_until(2.0 + 51.0)  # T1 = 0.5 × 100
    assert any(type(m) is Renew for m in link.sent)
    renewed = [e for e in link.take(PrefixRenewed) if e.prefix == b.prefix]
    assert renewed
    link.up = False
    link.sent.clear()
    link.run_until(link.now + 81.0)  # past T2 of the renewed binding
    assert any(type(m) is Rebind for m in link.sent)
    link.up = True
    link.run_until(link.now + 30.0)
    assert [e for e in link.take(PrefixRenewed) if e.prefix == b.prefix]
    assert not link.take(PrefixExpired)


def test_expiry_at_valid_lifetime_when_router_gone(link):
    link.host.setsc(1, 1, MT.GRACEFUL_REPLACEMENT, link.now)
    link.pump()
    t_bound = link.now
    (b,) = [e for e in link.take(PrefixBound) if e.mobility_type]
    link.up = False
    link.run_until(t_bound + 199.0)
    assert not [e for e in link.take(PrefixExpired) if e.prefix == b.prefix]
    link.run_until(t_bound + 200.5)
    assert [e for e in link.take(PrefixExpired) if e.prefix == b.prefix]


def test_release_on_last_close_frees_the_router_binding(link):
    link.host.setsc(1, 1, MT.SESSION_LASTING, link.now)
    link.pump()
    (_done,) = link.take(SetscCompleted)
    link.host.close_owner(1, link.now)
    link.pump()
    assert any(type(m) is Release for m in link.sent)
    assert link.take(PrefixRemoved)[0].reason == "released"
    assert not any(ia.mobility_type == MT.SESSION_LASTING for ia in link.host.pd.ias.values())
    # the prefix went back to the pool: the same host gets a binding again
    link.host.setsc(2, 2, MT.SESSION_LASTING, link.now)
    link.pump()
    assert link.take(SetscCompleted)[0].error is None


def test_on_net_gives_a_second_prefix_of_the_type(link):
    link.host.setsc(1, 1, MT.NON_PERSISTENT, link.now)
    link.pump()
    first = link.take(SetscCompleted)[0].address
    link.host.setsc(2, 2, MT.NON_PERSISTENT, link.now, on_net=True)
    link.pump()
    second = link.take(SetscCompleted)[0].address
    assert second != first
    assert IPv6Network(f"{second}/56", strict=False) != IPv6Network(f"{first}/56", strict=False)
