"""``odm monitor ra``: a passive Router Advertisement monitor, as radvd's
``radvdump`` is.

It sends nothing (no RS: compare ``odm probe ra``) and prints every RA heard
on an interface as it arrives, one line each, decoded by odm's codec: source,
hop limit, router lifetime, M/O flags, MTU, and per PIO the prefix, its
L/A/R/P flags, its mobility type (draft-feng-dmm-ra-prefixtype §3.1) and
lifetimes; an RA that fails RFC 4861 §6.1.2 (hop limit not 255, source not
link-local ...) or a PIO rule is shown with the violation, a malformed one
with the codec's reason and offset. ``--json`` writes one JSON object per RA
and line (JSON Lines) for scripts. Stops after ``--count`` RAs or
``--timeout`` seconds (exit 0 if any RA was heard, 3 if none: then one line
on stderr says so, as ``odm probe ra`` does; ``--json``'s stdout stays JSON
Lines), or at Ctrl-C.
"""

from __future__ import annotations

import datetime
import json
import sys
import time

import click

from odm.jsonout import type_json
from odm.probe_cli import _common, _fail, _life, _setup, _type_text

NO_RA = 3


@click.group()
def monitor() -> None:
    """Watch a link passively (nothing is sent)."""


def _describe(ra, src, hop: int | None, violations: list[str]) -> dict:
    from odm.probetools.ra import rows_of
    from odm_wire import nd

    mtu = ra.get(nd.Mtu)
    return {
        "time": datetime.datetime.now().isoformat(timespec="milliseconds"),
        "router": str(src), "hop-limit": hop, "router-lifetime": ra.router_lifetime,
        "flags": "".join(c for c, on in (("M", ra.managed), ("O", ra.other)) if on),
        "mtu": mtu.mtu if mtu is not None else None,
        "violations": violations,
        "prefixes": [{"prefix": r.prefix, "flags": r.flags,
                      "mobility-type": type_json(r.mobility_type),
                      "preferred-lifetime": r.preferred_lifetime,
                      "valid-lifetime": r.valid_lifetime,
                      "violations": r.violations[len(violations):]}
                     for r in rows_of(ra, src, violations) if r.prefix is not None],
    }


def _line(d: dict) -> str:
    head = (f"{d['time']} RA from {d['router']} hop-limit {d['hop-limit']} router-lifetime "
            f"{d['router-lifetime']}s flags {d['flags'] or '-'}"
            + (f" MTU {d['mtu']}" if d["mtu"] else ""))
    parts = [f"PIO {p['prefix']} {p['flags'] or '-'} {_type_text(p['mobility-type'])} preferred "
             f"{_life(p['preferred-lifetime'])} valid {_life(p['valid-lifetime'])}"
             + (f" [{'; '.join(p['violations'])}]" if p["violations"] else "")
             for p in d["prefixes"]]
    bad = f" [{'; '.join(d['violations'])}]" if d["violations"] else ""
    return "; ".join([head + bad, *parts])


@monitor.command("ra")
@_common(iface_help="Interface to listen on (nothing is sent).")
@click.option("--count", type=click.IntRange(min=1), default=None,
              help="Stop after this many RAs.")
@click.option("--timeout", type=float, default=None, help="Stop after this many seconds.")
def ra_cmd(iface: str, netns: str | None, as_json: bool, pen: int, count: int | None,
           timeout: float | None) -> None:
    """Print every Router Advertisement heard on the --iface interface (sends nothing)."""
    from odm.probetools.link import Icmp6Socket, ProbeError
    from odm_wire import nd, rules
    from odm_wire.errors import WireFormatError

    info = _setup(iface, netns)
    seen = malformed = 0
    start = time.monotonic()
    end = start + timeout if timeout is not None else None
    try:
        with Icmp6Socket(info) as sock:
            while count is None or seen < count:
                left = 3600.0 if end is None else end - time.monotonic()
                if left <= 0:
                    break
                got = sock.recv(min(left, 3600.0))
                if got is None:
                    continue
                raw, src, hop = got
                try:
                    ra = nd.decode_nd(raw)
                except WireFormatError as exc:
                    malformed += 1
                    msg = {"router": str(src), "malformed": exc.reason, "offset": exc.offset}
                    click.echo(json.dumps(msg) if as_json else
                               f"malformed RA from {src}: {exc.reason} at octet {exc.offset}")
                    continue
                if not isinstance(ra, nd.RouterAdvertisement):
                    continue
                seen += 1
                bad = [str(v) for v in rules.check_ra_receipt(
                    ra, src, hop if hop is not None else 255, len(raw))]
                d = _describe(ra, src, hop, bad)
                click.echo(json.dumps(d) if as_json else _line(d))
                sys.stdout.flush()
    except (ProbeError, OSError) as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        pass
    if not seen:
        waited = timeout if end is not None and time.monotonic() >= end else (
            round(time.monotonic() - start, 1))
        click.echo(f"odm monitor: no Router Advertisement heard on {iface} in {waited:g} s"
                   + (f" ({malformed} malformed datagram(s))" if malformed else ""), err=True)
    sys.exit(0 if seen else NO_RA)
