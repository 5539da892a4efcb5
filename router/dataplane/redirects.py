"""No ICMPv6 Redirects on the link between the routers (nftables via pyroute2).

With SESSION_LASTING and FIXED prefixes following their host
(:mod:`router.dataplane`), the anchor decapsulates the host's upstream packets
and forwards them on: when the next hop is on the same link the tunnel
arrived on (the core link, as in the lab where the correspondent sits on it),
Linux's forwarding path sends an ICMPv6 Redirect (RFC 4861 §8.2) to the
packet's source — the host, behind the tunnel. That Redirect is meaningless
(the host is not on the core link), goes back through the tunnel with a
link-local source, and draws "beyond scope" errors from the serving router.
With ``routed`` the anchor sends the downstream packets back out of the core
link to the serving router, and the Redirect would go to the correspondent.
Linux has no IPv6 equivalent of IPv4's ``send_redirects``, so
the router agent installs one nftables rule in its namespace::

    table ip6 odm_router { chain out { type filter hook output priority 0;
        oif <core> meta l4proto ipv6-icmp icmpv6 type nd-redirect drop } }

Built with pyroute2's nftables support (no ``nft`` binary). :func:`install`
is idempotent (an existing table is replaced); :func:`remove` deletes it.
"""

from __future__ import annotations

import logging
import struct

log = logging.getLogger(__name__)

__all__ = ["TABLE", "install", "remove"]

TABLE = "odm_router"
NFPROTO_IPV6 = 10
NFT_META_OIF = 5  # enum nft_meta_keys: LEN 0, PROTOCOL, PRIORITY, MARK, IIF, OIF
NFT_META_L4PROTO = 16
NFT_PAYLOAD_TRANSPORT_HEADER = 2
NF_DROP = 0
ICMPV6 = 58
ND_REDIRECT = 137


def _genex(name: str, kw: dict) -> dict:
    from pyroute2.nftables.expressions import genex
    return genex(name, kw)


def _cmp_eq(value: bytes) -> dict:
    return _genex("cmp", {"sreg": 1, "op": 0, "data": {"attrs": [("NFTA_DATA_VALUE", value)]}})


def install(ifindex: int) -> None:
    """Drop locally generated ICMPv6 Redirects leaving interface ``ifindex``
    (in the calling process's network namespace). Raises OSError when
    nf_tables cannot be used."""
    try:
        from pyroute2.nftables.main import NFTables
        nft = NFTables(nfgen_family=NFPROTO_IPV6)
    except Exception as exc:  # noqa: BLE001
        raise OSError(f"nftables unavailable: {exc}") from None
    try:
        if any(t.get_attr("NFTA_TABLE_NAME") == TABLE for t in nft.get_tables()):
            nft.table("del", name=TABLE)
        nft.table("add", name=TABLE)
        nft.chain("add", table=TABLE, name="out", hook="output", type="filter", priority=0)
        ex = [
            _genex("meta", {"key": NFT_META_OIF, "dreg": 1}),
            _cmp_eq(struct.pack("=I", ifindex)),
            _genex("meta", {"key": NFT_META_L4PROTO, "dreg": 1}),
            _cmp_eq(bytes((ICMPV6,))),
            _genex("payload", {"dreg": 1, "base": NFT_PAYLOAD_TRANSPORT_HEADER,
                               "offset": 0, "len": 1}),
            _cmp_eq(bytes((ND_REDIRECT,))),
            _genex("immediate", {"dreg": 0, "data": {"attrs": [
                ("NFTA_DATA_VERDICT", {"attrs": [("NFTA_VERDICT_CODE", NF_DROP)]})]}}),
        ]
        nft.rule("add", table=TABLE, chain="out", expressions=(ex,))
    except Exception as exc:  # noqa: BLE001
        raise OSError(f"cannot install the redirect filter: {exc}") from None
    finally:
        nft.close()


def remove() -> None:
    """Delete the table, if there is one."""
    try:
        from pyroute2.nftables.main import NFTables
        nft = NFTables(nfgen_family=NFPROTO_IPV6)
    except Exception as exc:  # noqa: BLE001
        log.debug("nftables: %s", exc)
        return
    try:
        if any(t.get_attr("NFTA_TABLE_NAME") == TABLE for t in nft.get_tables()):
            nft.table("del", name=TABLE)
    except Exception as exc:  # noqa: BLE001
        log.debug("nftables table %s: %s", TABLE, exc)
    finally:
        nft.close()
