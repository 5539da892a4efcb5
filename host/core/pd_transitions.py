"""The transitions of one IA_PD of the DHCPv6-PD client (RFC 8415 §18.2), as
tables, sans-I/O.

An IA_PD is in one :class:`~host.core.pd_model.IaState` and runs at most one
exchange of an :class:`~host.core.pd_model.ExchangeKind`. What a Reply does is
looked up in :data:`ON_REPLY` under (state, exchange kind, :class:`Verdict`
of the Reply on the IA_PD, :func:`host.core.pd_judge.judge`); what the end of
an exchange's retransmissions does (MRC or MRD reached, RFC 8415 §15) in
:data:`ON_GIVE_UP` under (state, exchange kind). Each entry is an
:class:`Action` (what the client does) and the state it leaves the IA_PD in
(None: the action decides, as told in :class:`Action`). The client sets every
state through one method that logs each transition
(:meth:`host.core.pd_client.PdClient._set_state`).

Replies handled before the table: the Reply to a Release ends it whatever it
says (§18.2.7); a Reply to a Solicit without Rapid Commit is dropped
(§18.2.1); a top-level UnspecFail / UseMulticast is ignored and the exchange
retransmits (§18.2.10). A Reply whose IA_PD is absent or malformed
(ABSENT, DISCARD) is ignored in every state. Advertises are collected during
a Solicit (§18.2.9) and the best one is Requested.

Timer-driven transitions (not in a table, each a single rule): T1 in BOUND →
RENEWING (Renew, §18.2.4); T2 in BOUND or RENEWING, unless a Request for the
binding is under way → REBINDING (Rebind, §18.2.5); the last prefix's valid
lifetime ending → SOLICITING for a persistent IA_PD, else IDLE and forgotten
(§18.2.5); a possible link change → REBINDING with REBIND_AFTER_MOVE
(§18.2.12).
"""

from __future__ import annotations

import enum

from host.core.pd_judge import Verdict
from host.core.pd_model import ExchangeKind as K
from host.core.pd_model import IaState as S

__all__ = ["ON_GIVE_UP", "ON_REPLY", "Action"]


class Action(enum.Enum):
    """What the client does on a transition."""

    #: use the granted prefixes (PrefixBound / PrefixRenewed, T1/T2 set):
    #: BOUND, or with no prefix left (lifetimes 0) SOLICITING when persistent,
    #: else IDLE and forgotten (§18.2.5)
    BIND = "bind"
    #: ignore the message; the exchange goes on
    IGNORE = "ignore"
    #: a Rapid Commit Reply without a usable prefix: tell the application
    #: (RequestFailed, once), the Solicit goes on (§18.2.9)
    REPORT = "report"
    #: a Request refused: tell the application, Solicit again
    RESOLICIT = "resolicit"
    #: a server without odm committed untyped prefixes to a typed IA_PD
    #: (draft-moses M6): tell the application (final) and Release them
    #: (RELEASING; forgotten at once when there is nothing to release)
    RELEASE_UNTYPED = "release-untyped"
    #: NoBinding (§18.2.10.1): Request for the binding, keeping the prefixes
    REQUEST_BINDING = "request-binding"
    #: a Renew refused: keep the prefixes, Rebind at T2
    REBIND_AT_T2 = "rebind-at-t2"
    #: a Rebind (or a Request for the binding) refused or unanswered: keep the
    #: prefixes until their valid lifetimes end, no more Renew or Rebind
    KEEP_TO_EXPIRY = "keep-to-expiry"
    #: a Request unanswered (REQ_MAX_RC): tell the application, Solicit again
    REQUEST_FAILED = "request-failed"
    #: a Request for the binding unanswered: keep the prefixes; Renew/Rebind
    #: at T1/T2 as before (a T1 already past becomes T2)
    KEEP_BINDING = "keep-binding"
    #: the Confirm-like Rebind after a move ran out (CNF_MAX_RD): the
    #: ordinary Rebind follows until the valid lifetimes end (§18.2.12)
    REBIND = "rebind"
    #: a Release unanswered (REL_MAX_RC): forget the IA_PD
    FORGET = "forget"


_A = Action
_IGNORED = {Verdict.ABSENT: (_A.IGNORE, None), Verdict.DISCARD: (_A.IGNORE, None)}

#: a Reply to an exchange that extends a binding (§18.2.10.1)
_EXTENDING = {
    Verdict.OK: (_A.BIND, None),
    Verdict.NOBINDING: (_A.REQUEST_BINDING, S.BOUND),
    Verdict.REFUSED: (_A.KEEP_TO_EXPIRY, S.BOUND),
    Verdict.UNTYPED: (_A.KEEP_TO_EXPIRY, S.BOUND),
}

#: (state, exchange kind) → {verdict: (action, next state)}
_REPLY_BY_EXCHANGE: dict[tuple[S, K], dict[Verdict, tuple[Action, S | None]]] = {
    # a new binding, straight from a Rapid Commit Solicit (§18.2.1)
    (S.SOLICITING, K.SOLICIT): {
        Verdict.OK: (_A.BIND, None),
        Verdict.UNTYPED: (_A.RELEASE_UNTYPED, None),
        Verdict.REFUSED: (_A.REPORT, S.SOLICITING),
        Verdict.NOBINDING: (_A.REPORT, S.SOLICITING),
    },
    # a new binding from a Request (§18.2.10.1)
    (S.REQUESTING, K.REQUEST): {
        Verdict.OK: (_A.BIND, None),
        Verdict.UNTYPED: (_A.RELEASE_UNTYPED, None),
        Verdict.REFUSED: (_A.RESOLICIT, S.SOLICITING),
        Verdict.NOBINDING: (_A.RESOLICIT, S.SOLICITING),
    },
    # extending a binding: a Request after NoBinding, Renew, Rebind
    (S.BOUND, K.REQUEST_BINDING): _EXTENDING,
    (S.RENEWING, K.RENEW): {
        **_EXTENDING,
        Verdict.REFUSED: (_A.REBIND_AT_T2, S.BOUND),
        Verdict.UNTYPED: (_A.REBIND_AT_T2, S.BOUND),
    },
    (S.REBINDING, K.REBIND): _EXTENDING,
    (S.REBINDING, K.REBIND_AFTER_MOVE): _EXTENDING,
}

#: (state, exchange kind, verdict of the Reply) → (action, next state or None)
ON_REPLY: dict[tuple[S, K, Verdict], tuple[Action, S | None]] = {
    (state, kind, verdict): step
    for (state, kind), steps in _REPLY_BY_EXCHANGE.items()
    for verdict, step in {**_IGNORED, **steps}.items()
}

#: (state, exchange kind) → (action, next state or None) when the exchange's
#: retransmissions end unanswered (RFC 8415 §15: MRC or MRD reached)
ON_GIVE_UP: dict[tuple[S, K], tuple[Action, S | None]] = {
    (S.RELEASING, K.RELEASE): (_A.FORGET, None),
    (S.REQUESTING, K.REQUEST): (_A.REQUEST_FAILED, S.SOLICITING),
    (S.BOUND, K.REQUEST_BINDING): (_A.KEEP_BINDING, S.BOUND),
    (S.RENEWING, K.RENEW): (_A.REBIND_AT_T2, S.BOUND),
    (S.REBINDING, K.REBIND_AFTER_MOVE): (_A.REBIND, S.REBINDING),
    (S.REBINDING, K.REBIND): (_A.KEEP_TO_EXPIRY, S.BOUND),
    # a Solicit has no MRC or MRD (§18.2.1): it never gives up
}
