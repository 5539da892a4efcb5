"""What ``odm host status`` shows of a host core, as plain JSON-able data
(:meth:`host.core.host.HostCore.status`), sans-I/O."""

from __future__ import annotations

__all__ = ["errors", "status"]


def errors(core) -> dict[str, int]:
    """Faults apart: ``internal-errors`` counts the datagrams whose handling
    raised in odm's own code (a bug: logged at ERROR, the agent keeps
    serving); ``received-dropped`` counts the datagrams dropped as bad input
    from a peer (DHCPv6 and RA; by reason under ``drops``). h11 keeps
    LocalProtocolError and RemoteProtocolError apart the same way; the router
    counts ``internal-errors`` apart from ``pkt6-receive-drop``."""
    return {"internal-errors": core.faults.counts["internal-errors"],
            "received-dropped": core.pd.dropped + core.ra.rejected}


def status(core, now: float) -> dict:
    """Everything ``odm host status`` shows of ``core`` at ``now``. The
    servers are those heard on the current link: a move forgets the previous
    link's (:meth:`host.core.pd_client.PdClient.forget_servers`), as it
    forgets its routers."""
    ra = core.ra.snapshot(now)
    return {
        "addresses": core.addrs.snapshot(now),
        "ia_pds": core.pd.snapshot(now),
        "servers": [{"duid": k.hex(":"), "address": str(v[0]),
                     "supported_types": None if v[1] is None
                     else [t.cli_name for t in v[1]]} for k, v in core.pd.servers.items()],
        "routers": ra["routers"],
        "onlink": ra["onlink"],
        "network_types": sorted(t.cli_name for t in core.pd.network_types),
        "references": [{"owner": r.owner, "address": str(r.address),
                        "type": r.mobility_type.cli_name,
                        "age": round(now - r.since, 1)} for r in core.refs.values()],
        "pending": [{"request": p.request_id, "owner": p.owner,
                     "type": p.mobility_type.cli_name, "on_net": p.on_net,
                     "deadline_in": round(p.deadline - now, 2)}
                    for p in core.pending.values()],
        "privacy": core.rotation.snapshot(now),
        "policy": {"source": core.policy.source, "denied": dict(core.denied),
                   "denied_total": sum(core.denied.values()),
                   "reclaimed": core.reclaimed},
        "trust": {"ignored": core.trust.counters()},
        "drops": {"dhcp6": core.pd.drops.snapshot(), "ra": core.ra.drops.snapshot()},
        "errors": errors(core),
    }
