"""pyroute2 adapter of the host agent: addresses with kernel lifetimes, the
interface's sysctls, the default route, and a netlink monitor for DAD results
and carrier changes. Runs in the agent's network namespace (the caller's).
"""

from __future__ import annotations

import logging
import os
import socket
import struct
from dataclasses import dataclass
from ipaddress import IPv6Address
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST
from pyroute2.netlink.diag import (
    SOCK_DESTROY,
    SS_ALL,
    SS_LISTEN,
    SS_TIME_WAIT,
    DiagSocket,
    inet_diag_req,
)
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import (
    RTM_DELADDR,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTMGRP_IPV6_IFADDR,
    RTMGRP_LINK,
)

from host.core.events import AddressAdded, AddressRemoved, AddressUpdated

NUD_NOARP = 0x40
NUD_PERMANENT = 0x80

#: rtm_protocol of routes the kernel learned from Router Advertisements.
RTPROT_RA = 9
#: rtm_protocol of the kernel's own routes (an address's prefix, a PIO's on-link prefix)
RTPROT_KERNEL = 2

log = logging.getLogger(__name__)

IFA_F_NODAD = 0x02
IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40
IFA_F_NOPREFIXROUTE = 0x200
IFA_F_PERMANENT = 0x80
#: IFA_PROTO of the addresses the kernel formed by SLAAC (IFAPROT_KERNEL_RA, Linux 5.18)
IFAPROT_KERNEL_RA = 2
IFF_LOWER_UP = 0x10000
#: IFA_PROTO (Linux >= 6.3) of the addresses the host agent installs, so that a
#: restarted agent can tell its own leftovers from anyone else's addresses.
ODM_ADDR_PROTO = 0x6F
INFINITY = 0xFFFFFFFF
NLMSG_ERROR = 2
_ENOENT, _EADDRNOTAVAIL, _EOPNOTSUPP = 2, 99, 95


@dataclass(frozen=True)
class AddrState:
    """A kernel address notification: address, tentative, DAD failed, deleted."""

    address: IPv6Address
    tentative: bool
    dadfailed: bool
    deleted: bool


def _sysctl(iface: str, key: str, value: str | None = None) -> str:
    p = Path("/proc/sys/net/ipv6/conf") / iface / key
    if value is not None:
        p.write_text(value)
    return p.read_text().strip()


#: rtnetlink attribute types of an address (linux/if_addr.h)
IFA_ADDRESS, IFA_CACHEINFO, IFA_FLAGS, IFA_PROTO = 1, 6, 8, 11
_NLMSGHDR_IFADDRMSG = struct.Struct("=IHHIIBBBBI")
_NLA_ADDRESS = struct.Struct("=HH16s")
_NLA_CACHEINFO = struct.Struct("=HHIIII")
_NLA_FLAGS_PROTO = struct.Struct("=HHIHHB3x")


_NLMSGHDR = struct.Struct("=IHHII")
_IFADDRMSG = struct.Struct("=BBBBI")
_IFINFOMSG_INDEX_FLAGS = struct.Struct("=iI")
_NLA = struct.Struct("=HH")
_U32 = struct.Struct("=I")


def parse_monitor(data: bytes, index: int) -> list:
    """The notifications of one rtnetlink datagram that concern interface
    ``index``, in order: :class:`AddrState` for RTM_NEWADDR / RTM_DELADDR of
    an IPv6 address (IFA_ADDRESS; flags from IFA_FLAGS, else the header's),
    ``("carrier", up)`` for RTM_NEWLINK (IFF_LOWER_UP). Read with struct
    (rtnetlink(7) layouts): pyroute2's parser took ~30 µs a message, and an
    address's notifications come with every setsc() that adds one; what
    pyroute2 reads from the same octets is held equal by
    tests/host/test_host_netlink_encode.py. A truncated message ends the
    reading (the kernel sends none)."""
    out: list = []
    off, end = 0, len(data)
    while off + 16 <= end:
        length, mtype = _NLMSGHDR.unpack_from(data, off)[:2]
        if length < 16 or off + length > end:
            break
        body, stop = off + 16, off + length
        off += (length + 3) & ~3
        if mtype in (RTM_NEWADDR, RTM_DELADDR) and body + 8 <= stop:
            _fam, _plen, hflags, _scope, ifindex = _IFADDRMSG.unpack_from(data, body)
            if ifindex != index:
                continue
            addr, flags = None, 0
            a = body + 8
            while a + 4 <= stop:
                alen, atype = _NLA.unpack_from(data, a)
                if alen < 4 or a + alen > stop:
                    break
                if atype == IFA_ADDRESS and alen == 20:
                    addr = data[a + 4:a + 20]
                elif atype == IFA_FLAGS and alen >= 8:
                    flags = _U32.unpack_from(data, a + 4)[0]
                a += (alen + 3) & ~3
            if addr is None:
                continue
            fl = flags or hflags
            out.append(AddrState(IPv6Address(addr), bool(fl & IFA_F_TENTATIVE),
                                 bool(fl & IFA_F_DADFAILED), mtype == RTM_DELADDR))
        elif mtype == RTM_NEWLINK and body + 16 <= stop:
            ifindex, iflags = _IFINFOMSG_INDEX_FLAGS.unpack_from(data, body + 4)
            if ifindex == index:
                out.append(("carrier", bool(iflags & IFF_LOWER_UP)))
    return out


def encode_addr_request(kind: int, seq: int, index: int, address: IPv6Address,
                        prefix_length: int, nlm_flags: int, ifa_flags: int = 0,
                        cacheinfo: dict | None = None) -> bytes:
    """One RTM_NEWADDR / RTM_DELADDR request (rtnetlink(7): nlmsghdr, ifaddrmsg,
    then IFA_ADDRESS, IFA_CACHEINFO when given, and for RTM_NEWADDR IFA_FLAGS
    and IFA_PROTO :data:`ODM_ADDR_PROTO`), with NLM_F_REQUEST | NLM_F_ACK and
    ``nlm_flags``. The octets pyroute2's ``ifaddrmsg`` encodes for the same
    request (tests/host/test_host_netlink_encode.py holds the two equal), packed
    with struct: pyroute2's generic attribute machinery took ~70 µs a message,
    on the path from a Reply to the setsc() answer."""
    body = _NLA_ADDRESS.pack(20, IFA_ADDRESS, address.packed)
    if cacheinfo is not None:
        body += _NLA_CACHEINFO.pack(20, IFA_CACHEINFO, cacheinfo["ifa_preferred"],
                                    cacheinfo["ifa_valid"], cacheinfo.get("cstamp", 0),
                                    cacheinfo.get("tstamp", 0))
    if kind == RTM_NEWADDR:
        body += _NLA_FLAGS_PROTO.pack(8, IFA_FLAGS, ifa_flags, 5, IFA_PROTO, ODM_ADDR_PROTO)
    head = _NLMSGHDR_IFADDRMSG.pack(_NLMSGHDR_IFADDRMSG.size + len(body), kind,
                                    NLM_F_REQUEST | NLM_F_ACK | nlm_flags, seq, 0,
                                    socket.AF_INET6, prefix_length, ifa_flags & 0xFF, 0, index)
    return head + body


class Netlink:
    """Addresses and routes on one interface through rtnetlink (pyroute2)."""

    def __init__(self, iface: str) -> None:
        self.iface = iface
        self.ipr = IPRoute()
        idx = self.ipr.link_lookup(ifname=iface)
        if not idx:
            self.ipr.close()
            raise OSError(f"no interface {iface!r}")
        self.index = idx[0]
        self.monitor: IPRoute | None = None
        #: sysctls changed at start and their values before (restored at stop)
        self.saved_sysctls: dict[str, str] = {}
        #: the kernel refused SOCK_DESTROY (no CONFIG_INET_DIAG_DESTROY)
        self._destroy_unsupported = False
        # address requests: packed by encode_addr_request, carried by a plain
        # socket (IPRoute.addr() costs ~0.3 ms a call, most of it in the
        # library's request machinery; a setsc() answer waits on this call)
        self._rt = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                 socket.NETLINK_ROUTE)
        self._rt.bind((0, 0))
        self._rt.settimeout(2.0)
        self._seq = 0

    def close(self) -> None:
        self.ipr.close()
        self._rt.close()
        if self.monitor is not None:
            self.monitor.close()

    # ------------------------------------------------------------ facts --
    def mac(self) -> bytes | None:
        (link,) = self.ipr.get_links(self.index)
        a = link.get("IFLA_ADDRESS")
        return bytes.fromhex(a.replace(":", "")) if a else None

    def link_local(self) -> IPv6Address | None:
        for a in self.ipr.get_addr(family=socket.AF_INET6, index=self.index):
            addr = IPv6Address(a.get("IFA_ADDRESS"))
            if addr.is_link_local:
                return addr
        return None

    def configure_sysctls(self, trusted_routers: bool = False) -> dict[str, str]:
        """Kernel SLAAC off on the interface (autoconf=0) so the agent forms every
        address itself. Without ``trusted_routers``, accept_ra kept on for
        routes (2 when forwarding is on, else 1 — never lowered). With it,
        accept_ra=0: the kernel takes nothing from any RA (no default route,
        on-link or Route Information route, MTU or hop limit from a rogue
        router); the agent installs the default routes of the trusted routers
        itself (issue 13 point 12)."""
        out = {}
        try:
            was = _sysctl(self.iface, "autoconf")
            if was != "0":
                self.saved_sysctls["autoconf"] = was
            out["autoconf"] = _sysctl(self.iface, "autoconf", "0")
            if trusted_routers:
                out["accept_ra"] = _sysctl(self.iface, "accept_ra", "0")
                return out
            fwd = _sysctl(self.iface, "forwarding")
            ar = _sysctl(self.iface, "accept_ra")
            if fwd != "0" and ar != "2":
                self.saved_sysctls["accept_ra"] = ar
                ar = _sysctl(self.iface, "accept_ra", "2")
            out["accept_ra"] = ar
        except OSError as exc:
            log.warning("cannot set sysctls on %s: %s", self.iface, exc)
        return out

    def restore_sysctls(self) -> dict[str, str]:
        """Put back what :meth:`configure_sysctls` changed (at stop: the
        interface is left as the agent found it, kernel SLAAC on again)."""
        done = {}
        for key, value in self.saved_sysctls.items():
            try:
                done[key] = _sysctl(self.iface, key, value)
            except OSError as exc:
                log.warning("cannot restore %s on %s: %s", key, self.iface, exc)
        self.saved_sysctls.clear()
        return done

    def drop_ra_routes(self, keep: set[IPv6Address]) -> list[str]:
        """Remove the routes the kernel learned from RAs (proto ``ra``) on this
        interface whose gateway is not in ``keep``: those a rogue router made
        before accept_ra was turned off. Returns them as text."""
        gone = []
        for r in self.ipr.get_routes(family=socket.AF_INET6, oif=self.index):
            if r["proto"] != RTPROT_RA:
                continue
            gw = r.get_attr("RTA_GATEWAY")
            if gw is not None and IPv6Address(gw) in keep:
                continue
            dst = f"{r.get_attr('RTA_DST') or '::'}/{r['dst_len']}"
            try:
                kw = {"gateway": gw} if gw else {}
                self.ipr.route("del", dst=dst, oif=self.index, family=socket.AF_INET6,
                               proto=RTPROT_RA, **kw)
                gone.append(f"{dst} via {gw}" if gw else dst)
            except Exception as exc:  # noqa: BLE001
                log.debug("route %s: %s", dst, exc)
        return gone

    def end_tcp_connections(self, address: IPv6Address) -> int:
        """End, in the kernel, the TCP connections whose local address is
        ``address`` (an address the agent has just removed): SOCK_DESTROY of
        sock_diag, as ``ss -K`` does; their applications get ECONNABORTED.
        The kernel does not end them itself, so they would go on sending
        from an address the host no longer has (RFC 4862 §5.5.4: an invalid
        address is not used as a source), on a link that may not route it
        (after a move), until their retransmissions time out. Listening
        sockets and TIME_WAIT stay. Returns how many were ended; 0 on a
        kernel without CONFIG_INET_DIAG_DESTROY (said once at WARNING)."""
        if self._destroy_unsupported:
            return 0
        want = str(address)
        states = SS_ALL & ~((1 << SS_LISTEN) | (1 << SS_TIME_WAIT))
        ended = 0
        with DiagSocket() as ds:
            ds.bind()
            for m in ds.get_sock_stats(family=socket.AF_INET6, states=states):
                if m["idiag_src"] != want:
                    continue
                req = inet_diag_req()
                req["sdiag_family"] = socket.AF_INET6
                req["sdiag_protocol"] = socket.IPPROTO_TCP
                req["idiag_states"] = SS_ALL
                for k in ("idiag_sport", "idiag_dport", "idiag_if", "idiag_cookie"):
                    req[k] = m[k]
                for k in ("idiag_src", "idiag_dst"):
                    req[k] = struct.unpack(">4I", IPv6Address(m[k]).packed)
                try:
                    for _ in ds.nlm_request(req, SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK):
                        pass
                    ended += 1
                except NetlinkError as exc:
                    if exc.code == _EOPNOTSUPP:
                        self._destroy_unsupported = True
                        log.warning("the kernel lacks CONFIG_INET_DIAG_DESTROY: TCP "
                                    "connections of a removed address go on until they "
                                    "time out")
                        return ended
                    log.debug("TCP connection of %s not ended: %s", address, exc)
        return ended

    def drop_onlink_prefix_routes(self) -> list[str]:
        """Remove the on-link prefix routes the kernel made from the PIOs
        (L flag) of the link's RAs: main table, proto kernel, no gateway, an
        expiry (the PIO's valid lifetime; a route of an address an operator
        configured has none). Called when every router of the link is
        forgotten (a move, RFC 6059 §2.3: the previous link's prefixes are
        no longer on-link): a destination in such a prefix is reached through
        the new link's router, not resolved on a link where it is not, until
        a PIO of the new link makes its own. /128 routes (the host's own
        DHCPv6-PD addresses) stay. Returns them as text."""
        gone = []
        for r in self.ipr.get_routes(family=socket.AF_INET6, oif=self.index, table=254):
            plen = r["dst_len"]
            if (r["proto"] != RTPROT_KERNEL or r.get_attr("RTA_GATEWAY") is not None
                    or not 0 < plen < 128):
                continue
            ci = r.get_attr("RTA_CACHEINFO") or {}
            dst = IPv6Address(r.get_attr("RTA_DST"))
            if not ci.get("rta_expires") or dst.is_link_local or dst.is_multicast:
                continue
            try:
                self.ipr.route("del", dst=f"{dst}/{plen}", oif=self.index, table=254,
                               family=socket.AF_INET6, proto=RTPROT_KERNEL)
                gone.append(f"{dst}/{plen}")
            except Exception as exc:  # noqa: BLE001
                log.debug("on-link route %s/%d: %s", dst, plen, exc)
        return gone

    def drop_kernel_slaac(self) -> list[str]:
        """Remove the addresses the kernel formed by SLAAC on this interface
        before the agent turned autoconf off (:meth:`configure_sysctls`).
        Left alone they live their valid lifetime (days with common RA
        settings: RFC 4862 §5.5.3 sets no bound), and, preferred, a
        non-setsc() socket may take one as its source (RFC 6724) after a
        move: a prefix of the link the host left. The kernel's SLAAC
        addresses are those of IFA_PROTO kernel_ra (Linux 5.18 and later);
        where the kernel gives no IFA_PROTO, the global /64 addresses with
        lifetimes (an operator's static address is permanent, a DHCPv6
        client's IA_NA address a /128). Returns them as text."""
        gone = []
        for a in self.ipr.get_addr(family=socket.AF_INET6, index=self.index):
            addr = IPv6Address(a.get("IFA_ADDRESS"))
            proto = a.get("IFA_PROTO")
            flags = a.get("IFA_FLAGS") or a["flags"]
            if proto is not None:
                slaac = proto == IFAPROT_KERNEL_RA
            else:
                slaac = (a["prefixlen"] == 64 and not flags & IFA_F_PERMANENT
                         and not addr.is_link_local)
            if not slaac:
                continue
            try:
                self.ipr.addr("del", index=self.index, address=str(addr),
                              prefixlen=a["prefixlen"], family=socket.AF_INET6)
                gone.append(f"{addr}/{a['prefixlen']}")
            except Exception as exc:  # noqa: BLE001
                log.warning("kernel SLAAC address %s/%d not removed: %s", addr,
                            a["prefixlen"], exc)
        return gone

    def accept_ra(self) -> int:
        try:
            return int(_sysctl(self.iface, "accept_ra"))
        except (OSError, ValueError):
            return 0

    # -------------------------------------------------------- addresses --
    def apply(self, ev) -> None:
        """Carry out AddressAdded / AddressUpdated (RTM_NEWADDR, create or
        replace, IFA_CACHEINFO lifetimes in seconds, IFA_FLAGS) / AddressRemoved
        (RTM_DELADDR; an address already gone is not an error). Returns once
        the kernel acknowledged; raises OSError with the kernel's errno."""
        if isinstance(ev, (AddressAdded, AddressUpdated)):
            flags = (IFA_F_NODAD if ev.nodad else 0) | (
                IFA_F_NOPREFIXROUTE if ev.noprefixroute else 0)
            valid = ev.valid_lifetime
            pref = min(ev.preferred_lifetime, valid)
            self._addr_request(RTM_NEWADDR, ev.address, ev.prefix_length,
                               NLM_F_CREATE | NLM_F_REPLACE, flags,
                               {"ifa_preferred": pref, "ifa_valid": valid,
                                "cstamp": 0, "tstamp": 0})
        elif isinstance(ev, AddressRemoved):
            try:
                self._addr_request(RTM_DELADDR, ev.address, ev.prefix_length, 0)
            except OSError as exc:
                if exc.errno not in (_ENOENT, _EADDRNOTAVAIL):
                    raise
                log.debug("address %s already gone: %s", ev.address, exc)

    def _addr_request(self, kind: int, address: IPv6Address, prefix_length: int,
                      nlm_flags: int, ifa_flags: int = 0, cacheinfo: dict | None = None
                      ) -> None:
        self._seq = (self._seq + 1) & 0xFFFFFFFF or 1
        self._rt.send(encode_addr_request(kind, self._seq, self.index, address, prefix_length,
                                          nlm_flags, ifa_flags, cacheinfo))
        while True:  # the ACK (NLMSG_ERROR, error 0) of this sequence number
            data = self._rt.recv(1 << 16)
            off = 0
            while off + 20 <= len(data):
                length, mtype, _fl, seq, _pid = struct.unpack_from("=IHHII", data, off)
                if mtype == NLMSG_ERROR and seq == self._seq:
                    err = struct.unpack_from("=i", data, off + 16)[0]
                    if err:
                        raise OSError(-err, f"{os.strerror(-err)}: {address}/{prefix_length}")
                    return
                off += max(16, (length + 3) & ~3)

    def odm_addresses(self) -> list[tuple[IPv6Address, int]]:
        """(address, prefix length) of the addresses on the interface marked as
        installed by an odm host agent (IFA_PROTO :data:`ODM_ADDR_PROTO`)."""
        out = []
        for a in self.ipr.get_addr(family=socket.AF_INET6, index=self.index):
            if a.get("IFA_PROTO") == ODM_ADDR_PROTO:
                out.append((IPv6Address(a.get("IFA_ADDRESS")), a["prefixlen"]))
        return out

    def address_flags(self, address: IPv6Address) -> int | None:
        for a in self.ipr.get_addr(family=socket.AF_INET6, index=self.index):
            if IPv6Address(a.get("IFA_ADDRESS")) == address:
                return a.get("IFA_FLAGS") or a["flags"]
        return None

    # ----------------------------------------------------------- routes --
    def default_route(self, router: IPv6Address, lifetime: int) -> None:
        """Install (lifetime > 0) or remove (0) a default route via ``router``."""
        try:
            if lifetime:
                self.ipr.route("replace", dst="::/0", gateway=str(router), oif=self.index,
                               family=socket.AF_INET6)
            else:
                self.ipr.route("del", dst="::/0", gateway=str(router), oif=self.index,
                               family=socket.AF_INET6)
        except Exception as exc:  # noqa: BLE001
            log.debug("default route via %s: %s", router, exc)

    # ---------------------------------------------------------- monitor --
    def open_monitor(self) -> int:
        """Subscribe to IPv6 address and link notifications; returns the fd to
        watch (then call :meth:`read_monitor` when readable).

        The subscription is a plain non-blocking ``NETLINK_ROUTE`` socket whose
        datagrams :func:`parse_monitor` reads: :meth:`read_monitor` drains the
        socket to EAGAIN, so no notification can wait in a library buffer
        while the fd looks idle (a carrier-up stuck there is a missed move)."""
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK,
                          socket.NETLINK_ROUTE)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind((0, RTMGRP_IPV6_IFADDR | RTMGRP_LINK))
        self.monitor = s
        return s.fileno()

    def read_monitor(self, carrier=None) -> list:
        """Pending notifications for our interface: :class:`AddrState` items and
        ``("carrier", up: bool)`` tuples, in kernel order. ``carrier``: how to
        read the link state when notifications were lost (default
        :meth:`carrier`)."""
        out: list = []
        assert self.monitor is not None
        while True:
            try:
                data = self.monitor.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # ENOBUFS: notifications were lost
                log.warning("netlink monitor: %s; re-reading the link state", exc)
                out.append(("carrier", (carrier or self.carrier)()))
                continue
            out += parse_monitor(data, self.index)
        return out

    def flush_neighbours(self) -> int:
        """Delete the interface's dynamic neighbour-cache entries (NUD states
        other than PERMANENT/NOARP); returns how many went.

        Called when the link may have changed (carrier back, a move): entries
        of the previous link are meaningless (RFC 4861 §7.3), and one left in
        INCOMPLETE or PROBE holds the packets queued on it — TCP then declines
        to retransmit a segment whose clone is still in that queue
        ("still in host queue") and backs its timer off until the entry fails,
        seconds later. Deleting the entry frees them."""
        n = 0
        for e in self.ipr.get_neighbours(family=socket.AF_INET6, ifindex=self.index):
            if e["state"] & (NUD_PERMANENT | NUD_NOARP):
                continue
            dst = e.get_attr("NDA_DST")
            if not dst or IPv6Address(dst).is_multicast:
                continue
            try:
                self.ipr.neigh("del", dst=dst, ifindex=self.index, family=socket.AF_INET6)
                n += 1
            except Exception as exc:  # noqa: BLE001 - gone meanwhile
                log.debug("neighbour %s: %s", dst, exc)
        return n

    def carrier(self) -> bool:
        """Whether the interface has carrier now (IFF_LOWER_UP)."""
        links = self.ipr.get_links(self.index)
        return bool(links and links[0]["flags"] & IFF_LOWER_UP)


class ThreadedNetlink:
    """:class:`Netlink` driven from one worker thread.

    pyroute2 0.9's synchronous ``IPRoute`` runs an asyncio loop of its own and
    cannot be used inside the agent's running loop, so every call is handed to
    a single dedicated thread and waited for (netlink calls take tens of µs;
    the agent needs the address in the kernel before it answers setsc())."""

    def __init__(self, iface: str) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._ex = ThreadPoolExecutor(1, thread_name_prefix="odm-netlink")
        self._nl: Netlink = self._ex.submit(Netlink, iface).result()
        self.iface = iface
        self.index = self._nl.index

    @property
    def monitor(self):
        return self._nl.monitor

    def apply(self, ev) -> None:
        """Addresses go to the kernel from the caller's thread (a plain netlink
        socket of their own, see :meth:`Netlink.apply`): no hop to the worker."""
        self._nl.apply(ev)

    def read_monitor(self) -> list:
        """Notifications read in the caller's thread too (a plain socket and
        struct, :func:`parse_monitor`); only the link state after lost
        notifications is asked of the worker's IPRoute."""
        return self._nl.read_monitor(self.carrier)

    def __getattr__(self, name: str):
        fn = getattr(self._nl, name)
        if not callable(fn):
            return fn

        def call(*args, **kwargs):
            return self._ex.submit(fn, *args, **kwargs).result()
        return call

    def close(self) -> None:
        try:
            self._ex.submit(self._nl.close).result()
        finally:
            self._ex.shutdown(wait=True)
