"""The conformance replay's normaliser: a decoded message made comparable with
another run's, and the first difference between two such forms.

Normalising (:class:`Normaliser`) makes equal what must differ between two
runs: transaction-ids (random per exchange, RFC 8415 §8), DUIDs (replaced by
their role, client or server, §11), Elapsed Time (§21.9), MAC addresses
(SLLA, RFC 4861 §4.6.1), checksums, status texts (the code stays, §21.13),
padding; options are compared as sets ordered by option code (their order
carries no meaning, §21), matched by kind and key (IAID, prefix). Lifetimes,
T1/T2 and the router lifetime are compared as numbers with a slack of
``lifetime_slack`` seconds for finite non-zero values (they count down); 0 and
infinity must match exactly. Delegated and on-link prefixes are named P1,
P2 … in order of first appearance on each side (the *structure* must match;
``exact_prefixes`` compares them as they are). IAIDs may be named I1, I2 …
the same way (``exact_iaids`` false: a host picks fresh ones).

:func:`first_difference` names where two normalised messages part, e.g.
``Reply/IA_PD[iaid=1]/IAPREFIX[P1]/VENDOR_OPTS(odm)/MOBILITY_TYPE``, with
both values. The replay drivers are in :mod:`odm.pcaptools.conformance`.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from ipaddress import IPv6Address

from odm.pcaptools.describe import status_name
from odm_wire import dhcp6 as d6
from odm_wire import nd
from odm_wire.constants import INFINITY

__all__ = ["CompareOptions", "Lifetime", "Normaliser", "first_difference", "label"]

_TIMES = frozenset({"preferred_lifetime", "valid_lifetime", "t1", "t2", "router_lifetime",
                    "lifetime"})
_DROP = frozenset({"checksum", "transaction_id", "status_message", "padding"})

@dataclass(frozen=True)
class CompareOptions:
    """How strictly answers are compared (module docstring).

    ``exact_prefixes``: compare prefixes as they are instead of P1, P2 …;
    ``exact_iaids``: compare IAIDs as they are instead of I1, I2 …;
    ``lifetime_slack``: seconds by which finite non-zero lifetimes and timers
    may differ."""

    exact_prefixes: bool = False
    exact_iaids: bool = True
    lifetime_slack: int = 2


@dataclass(frozen=True)
class Lifetime:
    """A lifetime or timer in seconds (0xffffffff = infinity)."""

    value: int

    def __str__(self) -> str:
        return "infinity" if self.value == INFINITY else f"{self.value} s"

    def close_to(self, other: Lifetime, slack: int) -> bool:
        a, b = self.value, other.value
        if a == b:
            return True
        if 0 in (a, b) or INFINITY in (a, b):
            return False
        return abs(a - b) <= slack


def _order(o) -> int:
    for attr in ("code", "option_type", "sub_code"):
        v = getattr(o, attr, None)
        if isinstance(v, int):
            return int(v)
    return 0


class Normaliser:
    """Turns decoded messages of one side into comparable dicts, naming
    prefixes (and IAIDs) consistently across the messages of that side."""

    def __init__(self, options: CompareOptions = CompareOptions()) -> None:
        self.options = options
        self.prefixes: dict[str, str] = {}
        self.iaids: dict[int, str] = {}

    def prefix(self, addr: IPv6Address, length: int) -> str:
        net = f"{addr}/{length}"
        if self.options.exact_prefixes or addr.is_unspecified:
            return net
        return self.prefixes.setdefault(net, f"P{len(self.prefixes) + 1}")

    def iaid(self, v: int):
        if self.options.exact_iaids:
            return v
        return self.iaids.setdefault(v, f"I{len(self.iaids) + 1}")

    def copy(self) -> Normaliser:
        """A copy whose names can grow without changing this one."""
        n = Normaliser(self.options)
        n.prefixes, n.iaids = dict(self.prefixes), dict(self.iaids)
        return n

    def iaid_of(self, name) -> int | None:
        """The IAID named ``name`` (or ``name`` itself with exact IAIDs)."""
        if self.options.exact_iaids:
            return name
        return next((v for v, n in self.iaids.items() if n == name), None)

    def __call__(self, msg) -> dict:
        """The comparable form of ``msg`` (an odm_wire message)."""
        return self._obj(msg, None)

    def _obj(self, obj, role):
        if isinstance(obj, enum.Enum):
            return obj.name
        if isinstance(obj, d6.Duid):
            return f"<{role or 'a'} DUID>"
        if isinstance(obj, d6.ElapsedTime):
            return None
        if isinstance(obj, d6.StatusCode):
            return {"kind": "StatusCode", "status_code": status_name(obj.status_code)}
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            out = {"kind": type(obj).__name__}
            if isinstance(obj, d6.ClientId):
                role = "client"
            elif isinstance(obj, d6.ServerId):
                role = "server"
            prefixed = isinstance(obj, (d6.IAPrefix, nd.PrefixInformation))
            for f in dataclasses.fields(obj):
                name = f.name
                if name in _DROP or (prefixed and name == "prefix_length"):
                    continue
                v = getattr(obj, name)
                if name in ("options", "suboptions"):
                    items = [self._obj(o, role) for o in sorted(v, key=_order)]
                    out[name] = [x for x in items if x is not None]
                elif prefixed and name == "prefix":
                    out[name] = self.prefix(v, obj.prefix_length)
                    if out[name] != obj.network:
                        out["_actual"] = obj.network  # shown, not compared
                elif name == "iaid":
                    out[name] = self.iaid(v)
                elif name in _TIMES and isinstance(v, int):
                    out[name] = Lifetime(v)
                elif name == "link_layer_address":
                    out[name] = "<MAC>"
                elif name == "mobility_type" and isinstance(obj, nd.PrefixInformation) \
                        and not v:
                    out[name] = "untyped"
                else:
                    out[name] = self._obj(v, role)
            return out
        if isinstance(obj, (list, tuple)):
            return [self._obj(x, role) for x in obj]
        if isinstance(obj, bytes):
            return obj.hex()
        if isinstance(obj, IPv6Address):
            return str(obj)
        return obj


_LABELS = {
    "ClientId": "CLIENTID", "ServerId": "SERVERID", "OptionRequest": "ORO",
    "Preference": "PREFERENCE", "RapidCommit": "RAPID_COMMIT", "StatusCode": "STATUS_CODE",
    "OdmVendorOpts": "VENDOR_OPTS(odm)", "MobilityTypeSubOption": "MOBILITY_TYPE",
    "SupportedTypesSubOption": "SUPPORTED_TYPES", "SourceLinkLayerAddress": "SLLA",
    "TargetLinkLayerAddress": "TLLA", "Mtu": "MTU", "Rdnss": "RDNSS",
    "SolMaxRt": "SOL_MAX_RT", "InfMaxRt": "INF_MAX_RT", "IANA": "IA_NA",
    "RouterAdvertisement": "RA", "RouterSolicitation": "RS",
}


def label(d, show: bool = False) -> str:
    """A path element for a normalised option (``IA_PD[iaid=1]``,
    ``IAPREFIX[P1]``); ``show`` adds the actual prefix to a named one
    (``IAPREFIX[P1=2001:db8:1f00::/56]``)."""
    if not isinstance(d, dict):
        return str(d)
    k = d.get("kind", "?")
    if k == "IAPD":
        return f"IA_PD[iaid={d.get('iaid')}]"
    if k in ("IAPrefix", "PrefixInformation"):
        name = "IAPREFIX" if k == "IAPrefix" else "PIO"
        actual = f"={d['_actual']}" if show and "_actual" in d else ""
        return f"{name}[{d.get('prefix')}{actual}]"
    if k == "VendorOpts":
        return f"VENDOR_OPTS({d.get('enterprise_number')})"
    if k in ("UnknownOption", "UnknownNdOption", "UnknownSubOption"):
        return f"{k}({d.get('option_code', d.get('nd_type', d.get('sub_code')))})"
    return _LABELS.get(k, k)


def _show(v) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    if isinstance(v, dict):
        return label(v, show=True)
    return str(v)


def first_difference(want, got, path: str = "", slack: int = 2
                     ) -> tuple[str, str, str] | None:
    """The first difference between two normalised messages (capture ``want``,
    live ``got``) as ``(path, capture text, live text)``, or None."""
    if isinstance(want, dict) and isinstance(got, dict):
        if want.get("kind") != got.get("kind"):
            return path or "message", label(want, True), label(got, True)
        here = path or label(want)
        keys = [k for k in want if k != "kind" and not k.startswith("_")] + \
            [k for k in got if k not in want and not k.startswith("_")]
        single = len([k for k in keys if k not in ("options", "suboptions")]) == 1 and \
            not any(k in want for k in ("options", "suboptions"))
        for k in keys:
            a, b = want.get(k), got.get(k)
            if k in ("options", "suboptions"):
                r = _list_difference(a or [], b or [], here, slack)
                if r:
                    return r
                continue
            sub = here if single else f"{here}/{k}"
            if isinstance(a, Lifetime) and isinstance(b, Lifetime):
                if not a.close_to(b, slack):
                    return sub, str(a), str(b)
                continue
            if isinstance(a, dict) and isinstance(b, dict):
                r = first_difference(a, b, sub, slack)
                if r:
                    return r
                continue
            if a != b:
                return sub, _show(a) if a is not None else "(absent)", \
                    _show(b) if b is not None else "(absent)"
        return None
    if want != got:
        return path or "message", _show(want), _show(got)
    return None


def _list_difference(a: list, b: list, path: str, slack: int):
    la, lb = [label(x) for x in a], [label(x) for x in b]
    left = list(la)
    missing: list[str] = []
    extra: list[str] = []
    for x, y in zip(lb, b, strict=False):
        if x in left:
            left.remove(x)
        else:
            extra.append(label(y, True))
    for x in a:
        if label(x) in left:
            left.remove(label(x))
            missing.append(label(x, True))
    if missing or extra:
        if missing and extra:
            return path, ", ".join(missing), ", ".join(extra) + " instead"
        if missing:
            return path, ", ".join(missing), f"no {', '.join(missing)}"
        return path, f"no {', '.join(extra)}", ", ".join(extra)
    used: set[int] = set()
    for x in a:
        lab = label(x)
        j = next(j for j, y in enumerate(b) if j not in used and label(y) == lab)
        used.add(j)
        r = first_difference(x, b[j], f"{path}/{label(x, True)}", slack)
        if r:
            return r
    return None

