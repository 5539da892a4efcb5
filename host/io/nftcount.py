"""Octets sent per source address, counted by the kernel (nftables), for the
privacy rotation by bytes (host/core/privacy.py, spec §7).

The agent owns one table in the ``ip6`` family, ``odm_host_<iface>``, with a
base chain on the **output** hook (priority 0, policy accept, no verdicts: it
only counts) holding one rule per watched address::

    ip6 saddr <address> counter

The kernel adds the length of every locally generated IPv6 packet whose source
is that address (IPv6 header included) to the rule's counter; the agent reads
the counters every ``byte_poll_interval`` seconds (one netlink dump) and hands
them to the core. Python never sees the packets.

Built with pyroute2's nftables support (netlink, no ``nft`` binary needed). A
table left by a killed agent is adopted with its counters (a crash does not
reset an address's count); a clean stop deletes it. When nf_tables is not
available (no kernel module, no CAP_NET_ADMIN) :meth:`NftByteCounter.open`
raises OSError and the agent logs that rotation by bytes is off — rotation by
age still works (documented fallback, docs/security.md).
"""

from __future__ import annotations

import logging
import socket
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv6Address

log = logging.getLogger(__name__)

__all__ = ["NftByteCounter", "ThreadedNftByteCounter", "table_name"]

NFPROTO_IPV6 = 10
NFT_PAYLOAD_NETWORK_HEADER = 1
IPV6_SADDR_OFFSET = 8


def table_name(iface: str) -> str:
    """The agent's table for ``iface`` (letters, digits and ``_`` only)."""
    return "odm_host_" + "".join(c if c.isalnum() else "_" for c in iface)


def _genex(name: str, kw: dict) -> dict:
    from pyroute2.nftables.expressions import genex
    return genex(name, kw)


class NftByteCounter:
    """Per-address octet counters in the kernel; synchronous pyroute2 calls
    (use :class:`ThreadedNftByteCounter` from inside an asyncio loop)."""

    def __init__(self, iface: str) -> None:
        self.table = table_name(iface)
        self.chain = "out"
        self.nft = None
        #: address → rule handle
        self.handles: dict[IPv6Address, int] = {}

    def open(self) -> dict[IPv6Address, int]:
        """Create the table and chain, or adopt them; returns the counters
        found (address → octets). Raises OSError when nf_tables is unusable."""
        try:
            from pyroute2.nftables.main import NFTables
            self.nft = NFTables(nfgen_family=NFPROTO_IPV6)
            if not any(t.get_attr("NFTA_TABLE_NAME") == self.table
                       for t in self.nft.get_tables()):
                self.nft.table("add", name=self.table)
            if not any(c.get_attr("NFTA_CHAIN_TABLE") == self.table
                       and c.get_attr("NFTA_CHAIN_NAME") == self.chain
                       for c in self.nft.get_chains()):
                self.nft.chain("add", table=self.table, name=self.chain, hook="output",
                               type="filter", priority=0)
            return self.read()
        except Exception as exc:  # noqa: BLE001 - any failure: no kernel counting
            self.close(remove=False)
            raise OSError(f"nftables unavailable: {exc}") from None

    def _rules(self):
        for r in self.nft.get_rules():
            if r.get_attr("NFTA_RULE_TABLE") != self.table:
                continue
            addr = None
            octets = 0
            for e in r.get_attr("NFTA_RULE_EXPRESSIONS") or []:
                name = e.get_attr("NFTA_EXPR_NAME")
                data = e.get_attr("NFTA_EXPR_DATA")
                if name == "cmp":
                    v = data.get_attr("NFTA_CMP_DATA").get_attr("NFTA_DATA_VALUE")
                    if isinstance(v, (bytes, bytearray)) and len(v) == 16:
                        addr = IPv6Address(bytes(v))
                    elif isinstance(v, str) and len(v.split(":")) == 16:
                        addr = IPv6Address(bytes(int(x, 16) for x in v.split(":")))
                elif name == "counter":
                    octets = int(data.get_attr("NFTA_COUNTER_BYTES") or 0)
            if addr is not None:
                yield addr, r.get_attr("NFTA_RULE_HANDLE"), octets

    def read(self) -> dict[IPv6Address, int]:
        """Octets sent so far from each watched address (one netlink dump)."""
        out = {}
        for addr, handle, octets in self._rules():
            self.handles[addr] = handle
            out[addr] = octets
        return out

    def watch(self, address: IPv6Address) -> None:
        """Count octets sent from ``address`` (idempotent)."""
        address = IPv6Address(address)
        if address in self.handles:
            return
        packed = socket.inet_pton(socket.AF_INET6, str(address))
        ex = [_genex("payload", {"dreg": 1, "base": NFT_PAYLOAD_NETWORK_HEADER,
                                 "offset": IPV6_SADDR_OFFSET, "len": 16}),
              _genex("cmp", {"sreg": 1, "op": 0,
                             "data": {"attrs": [("NFTA_DATA_VALUE", packed)]}}),
              _genex("counter", {"bytes": 0, "packets": 0})]
        self.nft.rule("add", table=self.table, chain=self.chain, expressions=(ex,))
        self.read()

    def unwatch(self, address: IPv6Address) -> None:
        """Stop counting ``address`` (its rule goes)."""
        h = self.handles.pop(IPv6Address(address), None)
        if h is not None:
            try:
                self.nft.rule("del", table=self.table, chain=self.chain, handle=h)
            except Exception as exc:  # noqa: BLE001 - gone already
                log.debug("nft rule %s: %s", h, exc)

    def close(self, remove: bool = True) -> None:
        """Close the netlink socket; with ``remove`` delete the table first."""
        if self.nft is None:
            return
        try:
            if remove:
                self.nft.table("del", name=self.table)
        except Exception as exc:  # noqa: BLE001
            log.debug("nft table %s: %s", self.table, exc)
        finally:
            try:
                self.nft.close()
            except Exception:  # noqa: BLE001
                pass
            self.nft = None
            self.handles.clear()


class ThreadedNftByteCounter:
    """:class:`NftByteCounter` on one worker thread (pyroute2's synchronous
    API runs an event loop of its own and cannot run inside the agent's)."""

    def __init__(self, iface: str) -> None:
        self._ex = ThreadPoolExecutor(1, thread_name_prefix="odm-nft")
        self._c = NftByteCounter(iface)

    def __getattr__(self, name: str):
        fn = getattr(self._c, name)
        if not callable(fn):
            return fn

        def call(*args, **kwargs):
            return self._ex.submit(fn, *args, **kwargs).result()
        return call

    def shutdown(self, remove: bool = True) -> None:
        try:
            self._ex.submit(self._c.close, remove).result()
        finally:
            self._ex.shutdown(wait=True)
