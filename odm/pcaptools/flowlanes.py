"""The lanes of a ladder diagram (:mod:`odm.pcaptools.flow`): which node an
address is drawn as -- a name given to addresses and prefixes
(:func:`lab_names`: the lab's address plan), a prefix delegated to a client,
SLAAC from a link-local seen, else the role it plays (:class:`Lanes`)."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network

from odm.pcaptools.packets import Packet
from odm_wire import dhcp6 as d6
from odm_wire import nd
from odm_wire.constants import MessageType

__all__ = ["Lanes", "lab_names"]

_CLIENT = {MessageType.SOLICIT, MessageType.REQUEST, MessageType.CONFIRM, MessageType.RENEW,
           MessageType.REBIND, MessageType.RELEASE, MessageType.DECLINE,
           MessageType.INFORMATION_REQUEST, MessageType.RELAY_FORW}


def _inner(msg):
    while isinstance(msg, d6.RelayMessage) and msg.relayed is not None:
        msg = msg.relayed
    return msg


class Lanes:
    """Which lane an address is drawn on.

    ``names`` maps addresses or prefixes (``"fe80::1"``, ``"2001:db8:1000::/36"``)
    to lane names; an address takes the name of its exact entry, else of the
    longest prefix holding it. Otherwise: an address inside a prefix delegated
    (IA_PD) to a client goes to that client's lane, a global address whose
    modified EUI-64 interface identifier (RFC 4291 App. A) is that of a
    link-local address seen goes to that address's lane (SLAAC, RFC 4862), and
    anything else is its own lane. Named lanes are drawn in the order the
    names first appear in ``names``, then the others in order of appearance.

    Addresses without a name are named by the role they play in the capture
    (:meth:`assign_roles`, :meth:`note_peer`): ``ar1``, ``ar2``… for the
    senders of RAs in order, ``mh`` for a DHCPv6 client, ``relay`` for the
    sender of a Relay-forw, ``server`` for a DHCPv6 server that sends no RA,
    ``cn`` for the other end of the host's data traffic; the address itself
    is the lane's sub-label.
    """

    def __init__(self, names: dict[str, str] | None = None) -> None:
        self.exact: dict[IPv6Address, str] = {}
        self.nets: list[tuple[IPv6Network, str]] = []
        for k, v in (names or {}).items():
            if "/" in k:
                self.nets.append((IPv6Network(k, strict=False), v))
            else:
                self.exact[IPv6Address(k)] = v
        self.nets.sort(key=lambda x: -x[0].prefixlen)
        self.order = list(dict.fromkeys((names or {}).values()))
        self.delegated: list[tuple[IPv6Network, IPv6Address]] = []
        self.link_locals: dict[bytes, IPv6Address] = {}
        self.first_address: dict[str, str] = {}
        self.roles: dict[IPv6Address, str] = {}
        self._used = set(self.order)

    def _named(self, addr: IPv6Address) -> bool:
        return addr in self.exact or addr in self.roles or \
            any(addr in net for net, _ in self.nets)

    def _role(self, addr: IPv6Address | None, base: str, numbered: bool = False) -> None:
        if addr is None or addr.is_multicast or addr.is_unspecified or self._named(addr):
            return
        k = 1
        while True:
            name = f"{base}{k}" if numbered else base if k == 1 else f"{base}{k}"
            if name not in self._used:
                break
            k += 1
        self._used.add(name)
        self.roles[addr] = name

    def assign_roles(self, packets: list[Packet]) -> None:
        """Name unnamed addresses by their role (class docstring): RA senders
        first (a router that answers DHCPv6 is a router), then DHCPv6 relays,
        clients and servers, in order of appearance."""
        for p in packets:
            if isinstance(p.message, nd.RouterAdvertisement):
                self._role(p.src, "ar", numbered=True)
        for p in packets:
            m = p.message
            if not isinstance(m, d6.Message) and not isinstance(m, d6.RelayMessage):
                continue
            t = getattr(m, "msg_type", None)
            if t == MessageType.RELAY_FORW:
                self._role(p.src, "relay")
            elif t == MessageType.RELAY_REPL:
                self._role(p.src, "server")
            elif t in _CLIENT:
                self._role(p.src, "mh")
            elif t in (MessageType.ADVERTISE, MessageType.REPLY):
                self._role(p.src, "server")

    def note_peer(self, a: IPv6Address, b: IPv6Address) -> None:
        """Data between ``a`` and ``b``: an unnamed global address talking
        with a host lane (``mh``…) is a correspondent node, ``cn``."""
        for me, other in ((a, b), (b, a)):
            lane = self(me)
            if (lane == "mh" or (lane.startswith("mh") and lane[2:].isdigit())) and \
                    not (other.is_link_local or other.is_multicast or other.is_loopback
                         or other.is_unspecified) and self._name(other, 0) == str(other):
                self._role(other, "cn")

    def learn(self, pkt: Packet) -> None:
        """Note the link-local source and the prefixes a Reply delegates."""
        if pkt.src is not None and pkt.src.is_link_local:
            self.link_locals.setdefault(pkt.src.packed[8:], pkt.src)
        msg = _inner(pkt.message) if pkt.message is not None else None
        if isinstance(msg, d6.Message) and msg.msg_type in (MessageType.REPLY,
                                                            MessageType.ADVERTISE):
            for ia in msg.ia_pds:
                for p in ia.prefixes:
                    if p.valid_lifetime and not p.prefix.is_unspecified and \
                            pkt.dst is not None:
                        net = IPv6Network(p.network, strict=False)
                        if (net, pkt.dst) not in self.delegated:
                            self.delegated.append((net, pkt.dst))

    def __call__(self, addr: IPv6Address, _depth: int = 0) -> str:
        name = self._name(addr, _depth)
        self.first_address.setdefault(name, str(addr))
        return name

    def _name(self, addr: IPv6Address, depth: int) -> str:
        if addr in self.exact:
            return self.exact[addr]
        for net, name in self.nets:
            if addr in net:
                return name
        if addr in self.roles:
            return self.roles[addr]
        if addr.is_multicast or depth > 3:
            return str(addr)
        for net, client in self.delegated:
            if addr in net:
                return self(client, depth + 1)
        if not addr.is_link_local and addr.packed[11:13] == b"\xff\xfe":
            ll = self.link_locals.get(addr.packed[8:])
            if ll is not None:
                return self(ll, depth + 1)
        return str(addr)


def lab_names(config=None) -> dict[str, str]:
    """Lane names of the lab's address plan (``lab.config.LabConfig``, the
    default one unless given): each router's access link-local, access
    address, core address and core link-local; cn's core address; the host's
    link-local and every PD pool and access prefix (the host's addresses)."""
    from lab.config import LabConfig
    from odm.pcaptools.craft import mac_bytes

    cfg = config or LabConfig()

    def eui64(mac: str) -> str:
        b = bytearray(mac_bytes(mac))
        return str(IPv6Address(b"\xfe\x80" + b"\0" * 6 + bytes([b[0] ^ 2]) + bytes(b[1:3])
                               + b"\xff\xfe" + bytes(b[3:6])))

    names = {eui64(cfg.host_mac): "mh"}
    for i, r in enumerate(cfg.routers):
        names[str(r.access_link_local)] = r.name
        names[str(r.access_address)] = r.name
        names[str(r.core_address)] = r.name
        names[eui64(r.core_mac)] = r.name
        try:  # the SRv6 SIDs the lab's agents give the routers
            from lab.agents import sid_of
            names[str(sid_of(i)[1])] = r.name
        except ImportError:
            pass
        names[str(r.pd_pool)] = "mh"
        names[str(r.access_prefix)] = "mh"
    names[str(cfg.cn_address)] = "cn"
    return names
