"""Judging the DHCPv6 messages a PD client receives (RFC 8415 §16, §18.2.9,
§18.2.10, §21; draft-moses M3-M8), sans-I/O. Every datagram validated; a bad
one is logged and dropped, counted under a name (host/core/droplog.py):

- wrong transaction-id, no Server Identifier, no or another client's Client
  Identifier → dropped (RFC 8415 §16.3, §16.10; checked by the client); an
  option whose length overruns its container → the whole datagram is invalid
  (the codec raises), except for the salvage policy below; an option the
  client does not use (e.g. NTP 56 with a broken sub-option) is kept as
  octets and ignored;
- **salvage of trailing damage** (:func:`salvage`; DESIGN "Strict codec,
  tolerant agents"): the codec refuses a whole Advertise/Reply and reports
  where the damage is. When the damage is confined to the last octets of the
  message — they do not form a whole option (fewer than 4 octets left, or a
  last option whose option-len runs past the end) — and that last, broken
  option is not one the client relies on (Client/Server Identifier,
  Preference, Status Code, Rapid Commit, Vendor-specific Information, IA_PD),
  the options before it are decoded (strictly) and used; a warning is logged
  and the message counted as ``salvaged-trailing-octets``. Damage inside a
  whole option, or a broken option the client relies on, refuses the message
  (``malformed``, ``damaged-essential-option``). Real servers do ship such
  trailing junk (a stray octet, a truncated padding option);
- top-level Status UnspecFail / UseMulticast → the Reply is ignored and the
  exchange keeps retransmitting (§18.2.10); any other top-level status (Kea's
  NoAddrsAvail summary for an IA_NA, a NoBinding summary) does not hide a good
  IA_PD: each IA_PD is judged on its own status (§21.13 scope rule) by
  :func:`judge`, whose :class:`Verdict` drives the client's transitions
  (:mod:`host.core.pd_transitions`);
- an IAPREFIX that cannot be a delegated prefix (:func:`not_delegable`:
  link-local, multicast, inside ::/8, site-local, length 0, bits set past
  its length) is discarded, in an Advertise (never hinted back) and in a
  Reply (never bound); with nothing usable left the client goes back to
  Solicit;
- every prefix a Reply commits that the client discards (unusable, of
  another type than asked, typed in an untyped IA_PD, preferred > valid) is
  released (§18.2.7), on a detached IA_PD of the same IAID
  (:mod:`host.core.pd_release`);
- odm options the client ignores are logged and counted: a top-level
  mobility type outside "Kea's way" (:mod:`host.core.pd_kea`,
  ``top-level-type-ignored``), a second odm type option in one IAPREFIX
  (``duplicate-type-option``, a sender violation of §21.17; the first wins);
- an IA_PD with T1 > T2 (both non-zero) is discarded (§21.21); an IAPREFIX with
  preferred > valid is discarded (§21.22); a typed IAPREFIX in an IA_PD that
  asked no type is discarded (draft-moses M8); a reserved type value is
  ignored (M3: the prefix counts as untyped);
- a typed IA_PD answered with an untyped prefix means the server does not
  know odm (M6): :class:`RequestFailed` NOTSUPPORTED; a prefix already
  committed that way (Rapid Commit, Request) is released again.
"""

from __future__ import annotations

import enum
import logging
import struct
from dataclasses import dataclass
from ipaddress import IPv6Network

from host.core import pd_kea
from host.core.droplog import DropLog
from odm_wire import rules
from odm_wire.constants import MessageType, MobilityType, OptionCode, status_name
from odm_wire.constants import StatusCode as SC
from odm_wire.dhcp6 import (
    IAPrefix,
    Message,
    MobilityTypeSubOption,
    OdmVendorOpts,
    RelayMessage,
    SupportedTypesSubOption,
    decode_dhcp6,
)
from odm_wire.errors import WireFormatError

__all__ = ["Judgement", "Verdict", "judge", "not_delegable", "salvage", "supported_types"]

#: msg-types whose trailing damage the client may salvage (Advertise, Reply)
_SALVAGEABLE = frozenset((int(MessageType.ADVERTISE), int(MessageType.REPLY)))
#: top-level options the client relies on: when one of them is the damaged
#: last option, the message is refused, not salvaged
_RELIED_ON = frozenset(int(c) for c in (
    OptionCode.CLIENTID, OptionCode.SERVERID, OptionCode.PREFERENCE, OptionCode.STATUS_CODE,
    OptionCode.RAPID_COMMIT, OptionCode.VENDOR_OPTS, OptionCode.IA_PD))
_OPT_HDR = struct.Struct(">HH")


class Verdict(enum.Enum):
    """What a server message says about one IA_PD (:func:`judge`)."""

    #: usable prefixes granted (to bind, or to ask for in a Request)
    OK = "ok"
    #: no IA_PD with the client's IAID in the message
    ABSENT = "absent"
    #: the IA_PD is malformed (T1 > T2, RFC 8415 §21.21): ignored
    DISCARD = "discard"
    #: Status NoBinding in the IA_PD (§18.2.10.1)
    NOBINDING = "nobinding"
    #: another status in the IA_PD, or no usable prefix in it
    REFUSED = "refused"
    #: refused, and a typed IA_PD got untyped prefixes only: the server does
    #: not know odm (draft-moses M6); the client reports NOTSUPPORTED
    UNTYPED = "untyped"

    @property
    def refused(self) -> bool:
        return self is Verdict.REFUSED or self is Verdict.UNTYPED


@dataclass(frozen=True)
class Judgement:
    """The :class:`Verdict` on one IA_PD of a message, with what it holds."""

    verdict: Verdict
    #: (IAPREFIX, its type or None) the client may use
    grants: tuple = ()
    t1: int = 0
    t2: int = 0
    status: int = 0
    detail: str = ""
    #: IAPREFIXes with a valid lifetime that the client does not use (to be
    #: released when the message committed them, RFC 8415 §18.2.7)
    dropped: tuple = ()


def not_delegable(p: IAPrefix) -> str | None:
    """Why the IAPREFIX ``p`` cannot be a delegated prefix, or None.

    A delegated prefix is handed to the requesting router to number links
    with global unicast addresses (RFC 8415 §6.3; RFC 4291 §2.4, §2.5.4), so
    the client refuses (RFC 8415 §18.2.10.1: a prefix the client cannot use is
    discarded) a prefix:

    * of length 0 (the whole address space) — a zero-length IAPREFIX is only
      ever a hint, never a grant;
    * with bits set past its length: the grant is ambiguous (the server's
      record, and its route, may be either value), so it is refused rather
      than normalised;
    * inside ::/8 (RFC 4291 §2.4/§2.5.2-§2.5.5: unspecified, loopback, the
      IPv4-compatible and IPv4-mapped ranges), multicast ff00::/8 (§2.7),
      link-local fe80::/10 (§2.5.6) or the deprecated site-local fec0::/10
      (RFC 3879).

    Unique local (fc00::/7) and documentation (2001:db8::/32) prefixes are
    usable: both are unicast prefixes a site may delegate."""
    n = p.prefix_length
    if n == 0 or n > 128:
        return f"prefix length {n}"
    a = int(p.prefix)
    if a & ((1 << (128 - n)) - 1):
        return "bits set past the prefix length"
    addr = p.prefix
    if a >> 120 == 0:
        return "inside ::/8 (unspecified, loopback or IPv4-embedded; RFC 4291 §2.4)"
    if addr.is_multicast:
        return "multicast (RFC 4291 §2.7)"
    if addr.is_link_local:
        return "link-local (RFC 4291 §2.5.6)"
    if addr.is_site_local:
        return "site-local (deprecated, RFC 3879)"
    return None


def net_of(p: IAPrefix) -> IPv6Network:
    """The prefix of the IAPREFIX ``p`` as a network (host bits cleared). The
    address goes in as an integer: ipaddress turns an IPv6Address into text
    and parses it again (~10 µs a prefix of every Reply)."""
    return IPv6Network((int(p.prefix), p.prefix_length), strict=False)


def real_type(v) -> MobilityType | None:
    """A MobilityType, or None for "no type" / a reserved value (draft-moses M3)."""
    return v if isinstance(v, MobilityType) else None


def supported_types(msg: Message) -> tuple[MobilityType, ...] | None:
    """The SUPPORTED_TYPES a server message lists (odm sub-option 2), or None."""
    for o in msg.options:
        if type(o) is OdmVendorOpts:
            for s in o.suboptions:
                if type(s) is SupportedTypesSubOption:
                    return tuple(t for t in s.types if isinstance(t, MobilityType))
    return None


def judge(ia, msg: Message, drops: DropLog, now: float | None) -> Judgement:
    """The :class:`Judgement` of ``msg`` (an Advertise or Reply) on the IA_PD
    ``ia``; every IAPREFIX it does not use is logged and counted in ``drops``
    (module docstring)."""
    mine = [o for o in msg.ia_pds if o.iaid == ia.iaid]
    if not mine:
        return Judgement(Verdict.ABSENT, detail="no IA_PD with our IAID")
    iapd = mine[0]
    if not rules.ia_pd_timers_valid(iapd):
        return Judgement(Verdict.DISCARD, detail=f"T1 {iapd.t1} > T2 {iapd.t2} (RFC 8415 §21.21)")
    st = rules.ia_status(iapd)
    if st == SC.NO_BINDING:
        return Judgement(Verdict.NOBINDING, status=int(st))
    if st != SC.SUCCESS:
        msgtext = iapd.status.status_message if iapd.status else ""
        return Judgement(Verdict.REFUSED, status=int(st),
                         detail=f"{status_name(st)} {msgtext!r}")
    top = pd_kea.accepted_type(ia, msg)
    grants: list[tuple[IAPrefix, MobilityType | None]] = []
    dropped = []
    untyped = False
    for p in iapd.prefixes:
        why = not_delegable(p)
        if why is not None:
            drops("prefix-not-usable", now, "IAPREFIX %s/%d discarded: %s",
                  p.prefix, p.prefix_length, why)
            dropped.append(p)
            continue
        if not rules.iaprefix_usable(p):
            drops("prefix-lifetimes-invalid", now, "IAPREFIX %s discarded: preferred "
                  "%d > valid %d (RFC 8415 §21.22)", p.network, p.preferred_lifetime,
                  p.valid_lifetime)
            dropped.append(p)
            continue
        n_types = sum(1 for o in p.options if type(o) is OdmVendorOpts
                      and any(type(x) is MobilityTypeSubOption for x in o.suboptions))
        if n_types > 1:
            drops("duplicate-type-option", now, "IAPREFIX %s carries %d odm type "
                  "options (RFC 8415 §21.17: one per enterprise); the first wins",
                  p.network, n_types)
        mt = real_type(p.mobility_type)
        if p.mobility_type is not None and mt is None:
            drops("reserved-type-ignored", now, "IAPREFIX %s: reserved mobility type "
                  "%r ignored (draft-moses §3)", p.network, p.mobility_type)
        if ia.mobility_type is None:
            if mt is not None:
                drops("typed-prefix-in-untyped-ia", now, "IAPREFIX %s typed %s in an "
                      "untyped IA_PD: discarded (draft-moses M8)", p.network, mt.name)
                dropped.append(p)
                continue
            grants.append((p, None))
            continue
        if mt is None:
            mt = top
        if mt is None:
            untyped = True
            dropped.append(p)
            continue
        if mt != ia.mobility_type:
            drops("prefix-of-another-type", now, "IAPREFIX %s has type %s, asked %s: "
                  "discarded", p.network, mt.name, ia.mobility_type.name)
            dropped.append(p)
            continue
        grants.append((p, mt))
    dropped_t = tuple(p for p in dropped if p.valid_lifetime)
    if not grants:
        if untyped:
            return Judgement(Verdict.UNTYPED, status=int(SC.NO_PREFIX_AVAIL),
                             detail="untyped prefix for a typed IA_PD (draft-moses M6)",
                             dropped=dropped_t)
        return Judgement(Verdict.REFUSED, status=int(SC.NO_PREFIX_AVAIL),
                         detail="no usable prefix", dropped=dropped_t)
    return Judgement(Verdict.OK, tuple(grants), iapd.t1, iapd.t2, dropped=dropped_t)


def salvage(data: bytes, exc: WireFormatError, src, now: float, *, pen: int, drop, drops: DropLog,
            trust=None) -> Message | RelayMessage | None:
    """The salvage policy (module docstring) for ``data``, which the codec
    refused with ``exc``: the message decoded from the octets before its
    trailing damage, or None (dropped through ``drop(src, name, why, now)``).
    ``trust``: the host's trust filter (host/core/trust.py), applied to what is
    salvaged (the filter passes what it cannot decode)."""
    n = len(data)
    if n < 4 or data[0] not in _SALVAGEABLE:
        drop(src, "malformed", f"malformed: {exc}", now)
        return None
    off = 4
    while off + 4 <= n:
        code, ln = _OPT_HDR.unpack_from(data, off)
        end = off + 4 + ln
        if end > n:
            break
        if off <= exc.offset < end:
            drop(src, "malformed", f"malformed: {exc}", now)
            return None
        off = end
    if off >= n or exc.offset < off:
        drop(src, "malformed", f"malformed: {exc}", now)
        return None
    if n - off >= 4:
        code = _OPT_HDR.unpack_from(data, off)[0]
        if code in _RELIED_ON:
            drop(src, "damaged-essential-option",
                 f"option {code} at octet {off}, which the client relies on, "
                 f"is damaged: {exc}", now)
            return None
    try:
        msg = decode_dhcp6(data[:off], pen)
    except WireFormatError as exc2:
        drop(src, "malformed", f"malformed: {exc2}", now)
        return None
    if trust is not None and not trust.answer_allowed(msg, src, now):
        return None
    drops("salvaged-trailing-octets", now, "%s from %s: the last %d octets (from "
          "octet %d) do not form a whole option (%s); the %d octets before them "
          "are used", type(msg).__name__, src, n - off, off, exc.reason, off,
          level=logging.WARNING)
    return msg
