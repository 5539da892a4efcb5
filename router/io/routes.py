"""Routes of delegated prefixes, written to the kernel in batches.

Every grant, renewal and release changes one route (RFC 8415 §6.3: a
delegated prefix is routed to the requesting router). Through pyroute2 0.9's
synchronous ``IPRoute.route()`` one change costs about 350 µs of Python
(measured on the lab machine: ~2,800 routes/s), which under a perfdhcp load
used more CPU than the DHCPv6 server itself and, on a worker thread, held the
GIL against the event loop. :class:`RouteBatcher` keeps pyroute2 for what it
is good at — the message layout: one ``RTM_NEWROUTE`` and one ``RTM_DELROUTE``
template are encoded once by pyroute2's ``rtmsg`` — and per route only
substitutes the destination, prefix length, gateway, interface index and
sequence number at their (ABI-fixed) offsets. The messages queued during one
turn of the event loop go to the kernel in one ``send`` on a non-blocking
``NETLINK_ROUTE`` socket; the kernel handles each message of the datagram in
order, while ``send`` runs. No acknowledgement is asked for (no
``NLM_F_ACK``): the kernel answers only a change it refuses, with an
``NLMSG_ERROR`` (short with ``NETLINK_CAP_ACK``) queued on the socket before
``send`` returns. So :meth:`RouteBatcher.flush` reads the socket right after
each ``send`` (one ``recv`` that finds nothing when every change went) and
names a refused change from the message it sent, still at hand: nothing is
remembered per change once its ``send`` has returned (remembering the latest
65,536 changes to name a refusal held ~13 MB at 100,000 bindings and ~25 MB
at its peak). A change costs one message in one ``send`` shared with the other
changes of the batch, and the batch one ``recv``.

The routes are the same as :func:`router.dataplane.common.route_to_host`
makes: main table, ``proto`` :data:`router.dataplane.common.RTPROT_ODM` (so
:func:`router.dataplane.common.flush` finds them), via the requesting
router's address, ``replace`` semantics. A deletion that finds no route is not
an error; any other change the kernel
refuses is logged as an ERROR and counted (:attr:`RouteBatcher.add_failures`,
:attr:`RouteBatcher.delete_failures`).

The next hop (RFC 8415 §6.3, §19.1.2: towards the requesting router, or the
relay that forwarded its messages) must be on-link, or the kernel refuses the
route. :func:`resolve_next_hop` turns the address the request came from into
one: a link-local source is on the access interface itself; any other address
(a relay on another link, or reached through another interface) is looked up
in the routing table and the route towards it gives the gateway and the
interface, as a static route "via the relay" would be resolved by hand.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import struct
import time
from ipaddress import IPv6Address, IPv6Network

from pyroute2.netlink import (
    NLM_F_CREATE,
    NLM_F_REPLACE,
    NLM_F_REQUEST,
    NLMSG_ERROR,
    SOL_NETLINK,
)
from pyroute2.netlink.rtnl import RTM_DELROUTE, RTM_NEWROUTE, rt_scope, rt_type
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from router.dataplane.common import RTPROT_ODM

log = logging.getLogger(__name__)

__all__ = ["NextHopUnreachable", "RouteBatcher", "resolve_next_hop"]

NETLINK_CAP_ACK = 10
RT_TABLE_MAIN = 254
RTN_UNICAST = rt_type["unicast"]
RTN_LOCAL = rt_type["local"]
RT_SCOPE_UNIVERSE = rt_scope["universe"]
#: Largest datagram sent to the kernel at once (octets).
MAX_SEND = 60 * 1024
_DST = IPv6Address("2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff")
_GW = IPv6Address("fe80::1111:2222:3333:4444")
_OIF = 0x7A7B7C7D
_SEQ = 0x5A5B5C5D
#: struct rtmsg follows the 16-octet nlmsghdr: family(1) dst_len(1) ...
_DST_LEN_AT = 17
_NLMSGHDR = struct.Struct("=IHHII")
_ERR = struct.Struct("=i")
_U32 = struct.Struct("=I")


class NextHopUnreachable(OSError):
    """No usable route towards the address a prefix should be routed through."""


def resolve_next_hop(ipr, via: IPv6Address, oif: int) -> tuple[IPv6Address, int]:
    """The on-link (gateway, interface index) for routing a delegated prefix
    towards ``via``, the address its request came from on interface ``oif``.

    A link-local ``via`` is a neighbour on ``oif`` (RFC 4291 §2.5.6): returned
    as is. Otherwise the kernel's route towards ``via`` decides
    (``RTM_GETROUTE``, ``ipr`` an ``IPRoute``): through a gateway, that
    gateway and its interface; directly connected, ``via`` on the interface
    of that route (which need not be ``oif``). Raises
    :class:`NextHopUnreachable` when there is no unicast route towards
    ``via`` (or ``via`` is one of our own addresses)."""
    if via.is_link_local:
        return via, oif
    try:
        found = list(ipr.route("get", dst=str(via)))
    except Exception as exc:  # noqa: BLE001 - pyroute2's NetlinkError, or the socket's
        code = getattr(exc, "code", None) or getattr(exc, "errno", None) or errno.ENETUNREACH
        raise NextHopUnreachable(code, f"no route towards {via}: "
                                       f"{os.strerror(code) if isinstance(code, int) else exc}"
                                 ) from None
    if not found:
        raise NextHopUnreachable(errno.ENETUNREACH, f"no route towards {via}")
    r = found[0]
    if r["type"] != RTN_UNICAST:
        what = "one of our own addresses" if r["type"] == RTN_LOCAL else \
            f"routed by a route of type {r['type']}"
        raise NextHopUnreachable(errno.EHOSTUNREACH, f"{via} is {what}")
    gw = r.get_attr("RTA_GATEWAY")
    out = r.get_attr("RTA_OIF")
    if out is None:
        raise NextHopUnreachable(errno.ENETUNREACH, f"the route towards {via} has no interface")
    return (IPv6Address(gw) if gw else via), out


def _template(msg_type: int, flags: int, gateway: bool) -> tuple[bytes, dict[str, int]]:
    """Encode one route message with pyroute2 using sentinel values and
    return it with the offsets of the fields to substitute."""
    m = rtmsg()
    m["family"] = socket.AF_INET6
    m["dst_len"] = 128
    m["table"] = RT_TABLE_MAIN
    m["proto"] = RTPROT_ODM
    m["scope"] = RT_SCOPE_UNIVERSE
    m["type"] = RTN_UNICAST
    attrs = [("RTA_DST", str(_DST))]
    if gateway:
        attrs += [("RTA_GATEWAY", str(_GW)), ("RTA_OIF", _OIF)]
    m["attrs"] = attrs
    m["header"]["type"] = msg_type
    m["header"]["flags"] = flags
    m["header"]["sequence_number"] = _SEQ
    m["header"]["pid"] = 0
    m.encode()
    raw = bytes(m.data)
    offs = {"dst": raw.index(_DST.packed), "seq": raw.index(_U32.pack(_SEQ))}
    if gateway:
        offs["gw"] = raw.index(_GW.packed)
        offs["oif"] = raw.index(_U32.pack(_OIF))
    assert raw[_DST_LEN_AT] == 128 and raw[16] == socket.AF_INET6
    return raw, offs


class RouteBatcher:
    """Batched route changes on a ``NETLINK_ROUTE`` socket of the calling
    thread's network namespace (module docstring). Call :meth:`add` /
    :meth:`delete` freely, :meth:`flush` once per event-loop turn, and
    :meth:`read_acks` when :meth:`fileno` is readable. Raises
    :class:`OSError` if the socket cannot be opened."""

    def __init__(self) -> None:
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                          socket.NETLINK_ROUTE)
        try:
            s.bind((0, 0))
            try:
                s.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
            except OSError:
                pass  # older kernels: full acknowledgements, still parsed
            for opt, size in ((getattr(socket, "SO_RCVBUFFORCE", 33), 8 << 20),
                              (getattr(socket, "SO_SNDBUFFORCE", 32), 2 << 20)):
                try:
                    s.setsockopt(socket.SOL_SOCKET, opt, size)
                except OSError:
                    pass
            s.setblocking(False)
        except OSError:
            s.close()
            raise
        self.sock = s
        self._add, self._add_at = _template(
            RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE, True)
        self._del, self._del_at = _template(RTM_DELROUTE, NLM_F_REQUEST, False)
        at = self._add_at
        self._add_offs = (at["dst"], at["gw"], at["oif"], at["seq"])
        self._seq = int(time.time()) & 0x7FFFFFFF
        self._queue: list[bytes] = []
        self.sent = 0
        #: changes the kernel refused (or that could not be sent)
        self.failures = 0
        self.add_failures = 0
        self.delete_failures = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFFFF or 1
        return self._seq

    def add(self, prefix: IPv6Network, via: IPv6Address, oif: int) -> None:
        """Queue: route ``prefix`` via ``via`` on interface index ``oif``
        (create or replace)."""
        b = bytearray(self._add)
        d, g, o, q = self._add_offs
        seq = self._next_seq()
        b[_DST_LEN_AT] = prefix.prefixlen
        b[d:d + 16] = prefix.network_address.packed
        b[g:g + 16] = via.packed
        _U32.pack_into(b, o, oif)
        _U32.pack_into(b, q, seq)
        self._queue.append(bytes(b))

    def delete(self, prefix: IPv6Network) -> None:
        """Queue: remove odm's route of ``prefix`` (no error if absent)."""
        b = bytearray(self._del)
        at = self._del_at
        seq = self._next_seq()
        b[_DST_LEN_AT] = prefix.prefixlen
        b[at["dst"]:at["dst"] + 16] = prefix.network_address.packed
        _U32.pack_into(b, at["seq"], seq)
        self._queue.append(bytes(b))

    def _what(self, m: bytes) -> tuple[IPv6Network, IPv6Address | None]:
        """(prefix, gateway; None for a deletion) of the queued message ``m``."""
        plen = m[_DST_LEN_AT]
        if _NLMSGHDR.unpack_from(m)[1] == RTM_DELROUTE:
            d = self._del_at["dst"]
            return IPv6Network((m[d:d + 16], plen)), None
        d, g, _o, _q = self._add_offs
        return IPv6Network((m[d:d + 16], plen)), IPv6Address(m[g:g + 16])

    def _count(self, deletion: bool) -> None:
        self.failures += 1
        if deletion:
            self.delete_failures += 1
        else:
            self.add_failures += 1

    @property
    def queued(self) -> int:
        return len(self._queue)

    def flush(self) -> None:
        """Send everything queued (in datagrams of at most ``MAX_SEND``
        octets). If the kernel's buffer is full, the rest stays queued."""
        q = self._queue
        if not q:
            return
        i = 0
        n = len(q)
        while i < n:
            j = i
            size = 0
            while j < n and size + len(q[j]) <= MAX_SEND:
                size += len(q[j])
                j += 1
            if j == i:
                j = i + 1
            try:
                self.sock.send(b"".join(q[i:j]))
            except BlockingIOError:
                break
            except OSError as exc:
                log.error("netlink send of %d route changes failed: %s", j - i, exc)
                for m in q[i:j]:
                    self._count(_NLMSGHDR.unpack_from(m)[1] == RTM_DELROUTE)
            else:
                self._read(q[i:j])
            self.sent += j - i
            i = j
        del q[:i]

    def read_acks(self) -> int:
        """Read the kernel's answers waiting on the socket (refusals; an
        acknowledgement too, from a kernel that sends them unasked); log the
        failures. Returns how many were read. :meth:`flush` reads them after
        each ``send``; this is for the event loop's reader on the socket."""
        return self._read(())

    def _read(self, sent) -> int:
        # ``sent``: the messages of the last ``send``, to name a refused one
        n = 0
        while True:
            try:
                data = self.sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                return n
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:  # answers lost: refusals unknown
                    log.warning("netlink answers lost (ENOBUFS): a refused route change "
                                "may have gone unlogged")
                    continue
                raise
            off = 0
            while off + 16 <= len(data):
                length, mtype, _flags, seq, _pid = _NLMSGHDR.unpack_from(data, off)
                if length < 16:
                    break
                if mtype == NLMSG_ERROR and off + 20 <= len(data):
                    err = -_ERR.unpack_from(data, off + 16)[0]
                    n += 1
                    m = next((m for m in sent if _U32.unpack_from(m, 8)[0] == seq), None) \
                        if err else None
                    what = self._what(m) if m is not None else None
                    if what is not None and not (
                            what[1] is None and err in (errno.ENOENT, errno.ESRCH)):
                        self._count(what[1] is None)
                        log.error("netlink: %s refused by the kernel: %s",
                                  f"route {what[0]} via {what[1]}" if what[1] is not None
                                  else f"removing the route of {what[0]}", os.strerror(err))
                off += (length + 3) & ~3

    def drain(self, timeout: float = 10.0) -> bool:
        """Send everything (waiting up to ``timeout`` seconds while the
        kernel's buffer is full) and read the refusals (the kernel has
        handled every change sent when ``send`` returns); True if all went."""
        end = time.monotonic() + timeout
        import select
        self.flush()
        while self._queue and time.monotonic() < end:
            select.select([], [self.sock], [], min(0.05, max(0.0, end - time.monotonic())))
            self.read_acks()
            self.flush()
        self.read_acks()
        return not self._queue

    def close(self) -> None:
        self.sock.close()
