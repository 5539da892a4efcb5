"""Who may ask for which mobility type, and how much (draft-ietf-dmm-ondemand-mobility
§7: "only authorized applications can use the costly (or limited) service
types"), sans-I/O.

The host agent learns each application's credentials from its API connection
(``SO_PEERCRED``: uid and primary gid; the adapter adds the supplementary
groups from ``/proc/<pid>/status``) and asks :meth:`Policy.check` before a
setsc() may cost the network anything. A refusal is answered with
``ODM_POLICY_DENIED`` (:class:`host.api.SetscDenied`) — never one of the two
EAI codes, which mean that the *network* said no — is logged, and sends no
DHCPv6 message.

The policy file's format, and how it is read: :mod:`host.policy_file`.

Quantities: ``on_net_per_minute`` is a token bucket of that many tokens refilled
evenly over 60 s (a burst up to the whole minute's allowance, then one per
60/N s); ``"unlimited"`` (or leaving it out of ``[default]``) removes the limit,
``0`` forbids ON_NET. ``max_addresses[type]`` counts, per uid, the distinct
addresses of that type (one per delegated prefix) that the uid's sockets hold or
that an acquisition by the uid put on the host and that are still bound or being
acquired (a FIXED prefix kept after its socket closed stays charged to the uid
that asked for it until it is released); an address already charged to the uid
is handed out again without counting twice. ``max_total`` counts the same
across all types; ``users_total`` (top level) counts the addresses charged to
every uid but 0 together, so that local users cannot take all the prefixes the
router grants the host's DUID (its ``max_bindings_per_client``, 16 by default)
and leave none for root, the legacy prefix and the boot types.

A uid at one of these limits that still holds an on-demand NON_PERSISTENT,
GRACEFUL_REPLACEMENT or SESSION_LASTING prefix that no socket uses (kept by the
release policy after its sockets closed) gets that prefix released (RFC 8415
§18.2.7) to make room, the oldest of the type asked for first; FIXED prefixes
are never given up that way (a fixed address that changes is not fixed).

Without a policy file the built-in :func:`default_policy` applies: root (uid 0)
is not limited (it could speak DHCPv6 itself); every other uid may ask for all
four types and holds at most 1 FIXED, 4 SESSION_LASTING, 4 NON_PERSISTENT and 2
GRACEFUL_REPLACEMENT addresses, 6 in all, at most 30 ON_NET requests a minute;
all uids but root together hold at most 12.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from host.core.pd_model import IaState
from odm_wire.constants import MobilityType

__all__ = [
    "Decision",
    "Policy",
    "PolicyError",
    "Principal",
    "Rule",
    "charge_key",
    "charges",
    "default_policy",
]

ALL_TYPES = frozenset(MobilityType)


class PolicyError(ValueError):
    """A policy file that cannot be read or holds an impossible value."""


@dataclass(frozen=True)
class Principal:
    """Who is asking: ``uid``, primary ``gid`` and supplementary ``groups``
    (all from the kernel: SO_PEERCRED and /proc)."""

    uid: int
    gid: int
    groups: frozenset[int] = frozenset()
    pid: int | None = None

    @property
    def all_gids(self) -> frozenset[int]:
        return self.groups | {self.gid}


@dataclass(frozen=True)
class Rule:
    """What one set of principals may do. Empty ``uids`` and ``gids`` match
    nobody (except in the default rule, which matches everyone).

    ``types``: the mobility types they may ask for; ``on_net_per_minute``:
    ON_NET setsc() calls per minute (``math.inf``: no limit, 0: none);
    ``max_addresses``: per type, how many distinct addresses of it the uid may
    hold (absent: no limit)."""

    name: str = "default"
    uids: frozenset[int] = frozenset()
    gids: frozenset[int] = frozenset()
    types: frozenset[MobilityType] = ALL_TYPES
    on_net_per_minute: float = math.inf
    max_addresses: Mapping[MobilityType, int] = field(
        default_factory=lambda: MappingProxyType({}))
    #: addresses of all types together per uid (``math.inf``: no limit)
    max_total: float = math.inf

    def matches(self, p: Principal) -> bool:
        return p.uid in self.uids or bool(self.gids & p.all_gids)

    def limit(self, t: MobilityType) -> float:
        """How many addresses of ``t`` a uid may hold (``math.inf``: no limit)."""
        v = self.max_addresses.get(t)
        return math.inf if v is None else v


@dataclass(frozen=True)
class Decision:
    """The answer of :meth:`Policy.check`: ``allowed``, and when not, ``kind``
    (``"type"``, ``"quota"`` or ``"rate"``) and a sentence for the log and the
    application."""

    allowed: bool
    rule: str
    kind: str = ""
    detail: str = ""


class _Bucket:
    def __init__(self, per_minute: float, now: float) -> None:
        self.capacity = per_minute
        self.tokens = per_minute
        self.stamp = now

    def take(self, now: float) -> bool:
        if self.capacity == math.inf:
            return True
        if self.capacity <= 0:
            return False
        self.tokens = min(self.capacity,
                          self.tokens + (now - self.stamp) * self.capacity / 60.0)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Policy:
    """The host's authorisation rules and their per-uid ON_NET buckets.

    ``rules`` are tried in order, the first that matches wins; ``default``
    applies otherwise."""

    def __init__(self, rules: tuple[Rule, ...] = (), default: Rule | None = None,
                 source: str = "built-in", users_total: float = math.inf) -> None:
        self.rules = tuple(rules)
        self.default = default or Rule()
        self.source = source
        #: addresses charged to all uids but 0 together (``math.inf``: no cap)
        self.users_total = users_total
        self._buckets: dict[tuple[str, int], _Bucket] = {}

    def rule_for(self, p: Principal) -> Rule:
        for r in self.rules:
            if r.matches(p):
                return r
        return self.default

    def check(self, p: Principal, t: MobilityType, *, on_net: bool, new_charge: bool,
              held: int, now: float, held_total: int = 0, users_held: int = 0) -> Decision:
        """May ``p`` ask for an address of type ``t`` now?

        ``on_net``: the socket set IPV6_REQUIRE_SRC_ON_NET (a new prefix will be
        asked for); ``new_charge``: the answer would be an address not yet
        charged to ``p.uid``; ``held``: how many addresses of ``t`` are charged
        to ``p.uid`` now, ``held_total``: of all types, ``users_held``: to all
        uids but 0 together; ``now``: seconds on the caller's monotonic clock.
        An allowed ON_NET call takes one token of the uid's bucket; a refused
        call takes none. The kinds of
        refusal: ``"type"``, ``"quota"`` (of the type), ``"quota-total"`` (the
        uid's all types), ``"quota-users"`` (all non-root uids), ``"rate"``."""
        r = self.rule_for(p)
        if t not in r.types:
            return Decision(False, r.name, "type",
                            f"uid {p.uid} may not ask for {t.name} (policy rule {r.name!r})")
        lim = r.limit(t)
        if new_charge and held >= lim:
            return Decision(False, r.name, "quota",
                            f"uid {p.uid} holds {held} {t.name} address(es), the most "
                            f"policy rule {r.name!r} allows")
        if new_charge and held_total >= r.max_total:
            return Decision(False, r.name, "quota-total",
                            f"uid {p.uid} holds {held_total} address(es) of all types, the "
                            f"most policy rule {r.name!r} allows")
        if new_charge and p.uid != 0 and users_held >= self.users_total:
            return Decision(False, r.name, "quota-users",
                            f"local users hold {users_held} address(es) together, the most "
                            f"the policy allows (users_total); uid 0 is not limited")
        if on_net:
            key = (r.name, p.uid)
            b = self._buckets.get(key)
            if b is None:
                b = self._buckets[key] = _Bucket(r.on_net_per_minute, now)
            if not b.take(now):
                return Decision(False, r.name, "rate",
                                f"uid {p.uid}: more than {r.on_net_per_minute:g} ON_NET "
                                f"requests a minute (policy rule {r.name!r})")
        return Decision(True, r.name)

    def check_charged(self, p: Principal, t: MobilityType, *, on_net: bool, new_charge: bool,
                      charges: dict, now: float) -> Decision:
        """:meth:`check` with the counts taken from ``charges`` (:func:`charges`)."""
        uid = p.uid
        held_total = sum(len(v) for (u, _), v in charges.items() if u == uid)
        users_held = len({k for (u, _), v in charges.items() if u != 0 for k in v})
        return self.check(p, t, on_net=on_net, new_charge=new_charge,
                          held=len(charges.get((uid, t), ())), now=now,
                          held_total=held_total, users_held=users_held)

    def describe(self) -> dict:
        """The rules as plain data (``odm host status``)."""
        def one(r: Rule) -> dict:
            return {"name": r.name, "uids": sorted(r.uids), "gids": sorted(r.gids),
                    "types": sorted(t.cli_name for t in r.types),
                    "on_net_per_minute": None if r.on_net_per_minute == math.inf
                    else r.on_net_per_minute,
                    "max_addresses": {t.cli_name: v for t, v in r.max_addresses.items()},
                    "max_total": None if r.max_total == math.inf else r.max_total}
        return {"source": self.source, "rules": [one(r) for r in self.rules],
                "default": one(self.default),
                "users_total": None if self.users_total == math.inf else self.users_total}


#: the built-in limits (docs/security.md): within the router's default
#: max_bindings_per_client (16) with room for root, the legacy IA_PD and a boot type
DEFAULT_MAX_ADDRESSES = MappingProxyType({
    MobilityType.FIXED: 1, MobilityType.SESSION_LASTING: 4,
    MobilityType.NON_PERSISTENT: 4, MobilityType.GRACEFUL_REPLACEMENT: 2})
DEFAULT_MAX_TOTAL = 6
#: ON_NET setsc() a minute per non-root uid. Each acquisition costs one or two
#: DHCPv6 messages of the host's RFC 8415 §14.1 budget (one a second by
#: default, shared by every user): at 6 a minute several users asking as fast
#: as they may still leave most of it free, so another user's ON_NET waits for
#: no token (at 30, two such users kept it empty: bench/local_attacks.py).
DEFAULT_ON_NET_PER_MINUTE = 6.0
DEFAULT_USERS_TOTAL = 12


def default_policy() -> Policy:
    """The built-in policy (no ``policy_file``): root unlimited; everyone else
    all four types, at most 1 FIXED, 4 SESSION_LASTING, 4 NON_PERSISTENT and 2
    GRACEFUL_REPLACEMENT addresses and 6 in all per uid, 6 ON_NET requests a
    minute (DEFAULT_ON_NET_PER_MINUTE); all uids but root together at most 12
    addresses."""
    root = Rule("root", uids=frozenset({0}))
    everyone = Rule("default", on_net_per_minute=DEFAULT_ON_NET_PER_MINUTE,
                    max_addresses=DEFAULT_MAX_ADDRESSES,
                    max_total=DEFAULT_MAX_TOTAL)
    return Policy((root,), everyone, users_total=DEFAULT_USERS_TOTAL)


def charge_key(address) -> object:
    """What one charged address is counted by: its IAID (a delegated prefix),
    else its on-link prefix."""
    return address.iaid if address.iaid is not None else address.prefix


def charges(acquirer: dict, ias: dict, refs: dict, principals: dict,
            addresses: dict) -> dict[tuple[int, MobilityType], set]:
    """(uid, type) → the addresses charged to that uid: one key
    (:func:`charge_key`) per address that a socket of the uid holds
    (``refs``: owner → reference, ``principals``: owner → who) or that an
    acquisition started by the uid (``acquirer``: IAID → uid; entries of
    IA_PDs no longer in ``ias`` are forgotten) is getting or holds."""
    out: dict[tuple[int, MobilityType], set] = {}
    for iaid, u in list(acquirer.items()):
        ia = ias.get(iaid)
        if ia is None:
            del acquirer[iaid]
            continue
        if ia.state is not IaState.RELEASING and ia.mobility_type is not None:
            out.setdefault((u, ia.mobility_type), set()).add(iaid)
    for owner, ref in refs.items():
        p = principals.get(owner)
        if p is None:
            continue
        a = addresses.get(ref.address)
        if a is not None:
            out.setdefault((p.uid, ref.mobility_type), set()).add(charge_key(a))
    return out
