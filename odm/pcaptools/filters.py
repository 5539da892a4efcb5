"""``--filter`` expressions for ``odm pcap show`` and friends.

Grammar (case-insensitive words)::

    expr   := term (("or" | "||") term)*
    term   := factor (("and" | "&&") factor)*
    factor := ("not" | "!") factor | "(" expr ")" | field OP value | word
    OP     := == | != | < | <= | > | >= | ~        (~ : substring)

Fields (a field with several values matches when any value does; ``!=``
matches when the packet has the field and no value equals):

==========  ==========================================================
``kind``    ``dhcp6`` or ``icmp6``
``msg``     message name: ``solicit`` … ``reply``, ``rs``, ``ra``, ``ns``
``src``     source address (text); ``dst`` destination address
``xid``     DHCPv6 transaction-id (decimal or 0x hex)
``iaid``    IAIDs of the message's IA_PDs
``type``    mobility types: per IAPREFIX or PIO (name, cli name or 1–4)
``status``  status codes by RFC name (``NoPrefixAvail``), IA_PD ones too
``prefix``  prefixes (``2001:db8::/56``) in IAPREFIXes and PIOs
``frame``   frame number
==========  ==========================================================

Bare words: ``dhcp6``, ``nd`` (= ``icmp6``), a message name (``reply``,
``ra``), ``malformed`` (codec or framing fault), ``badsum`` (wrong checksum).

Example: ``msg == reply and type == session-lasting``, ``iaid==3 or ra``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from odm.pcaptools.describe import mobility_types, packet_summary, status_name
from odm.pcaptools.packets import Packet
from odm_wire import dhcp6 as d6
from odm_wire import nd
from odm_wire.constants import MobilityType

__all__ = ["FilterError", "compile_filter"]

_TOKEN = re.compile(r"\s*(\(|\)|==|!=|<=|>=|<|>|~|&&|\|\||!|[^\s()=!<>~&|]+)")
_OPS = {"==", "!=", "<", "<=", ">", ">=", "~"}
_MSG_WORDS = {"solicit", "advertise", "request", "confirm", "renew", "rebind", "reply",
              "release", "decline", "reconfigure", "information-request", "relay-forw",
              "relay-repl", "rs", "ra", "ns", "na", "redirect"}


class FilterError(ValueError):
    """A filter expression that does not parse; the message says where."""


def _inner(msg):
    while isinstance(msg, d6.RelayMessage) and msg.relayed is not None:
        msg = msg.relayed
    return msg


def _values(pkt: Packet, fld: str) -> list:
    msg = _inner(pkt.message)
    if fld == "kind":
        return [pkt.kind]
    if fld == "msg":
        return [packet_summary(pkt)[0].lower()]
    if fld in ("src", "dst"):
        return [str(getattr(pkt, fld))]
    if fld == "frame":
        return [pkt.number]
    if fld == "xid":
        return [msg.transaction_id] if isinstance(msg, d6.Message) else []
    if fld == "iaid":
        return [ia.iaid for ia in getattr(msg, "ia_pds", [])]
    if fld == "type":
        return [int(t) for t in mobility_types(msg)] if msg is not None else []
    if fld == "status":
        if not isinstance(msg, d6.Message):
            return []
        codes = [msg.status.status_code] if msg.status else []
        codes += [ia.status.status_code for ia in msg.ia_pds if ia.status]
        return [status_name(c).lower() for c in codes]
    if fld == "prefix":
        if isinstance(msg, nd.RouterAdvertisement):
            return [p.network for p in msg.prefixes]
        return [p.network for ia in getattr(msg, "ia_pds", []) for p in ia.prefixes]
    raise FilterError(f"unknown field {fld!r} (kind, msg, src, dst, xid, iaid, type, "
                      "status, prefix, frame)")


def _coerce(fld: str, value: str):
    v = value.strip("'\"")
    if fld in ("xid", "iaid", "frame"):
        try:
            return int(v, 0)
        except ValueError:
            raise FilterError(f"{fld} wants a number, not {value!r}") from None
    if fld == "type":
        try:
            return int(MobilityType.from_name(v))
        except ValueError:
            raise FilterError(f"unknown mobility type {value!r}") from None
    return v.lower()


def _compare(op: str, have, want) -> bool:
    if op == "~":
        return str(want).lower() in str(have).lower()
    if isinstance(want, str):
        have = str(have).lower()
    try:
        return {"==": have == want, "!=": have != want, "<": have < want,
                "<=": have <= want, ">": have > want, ">=": have >= want}[op]
    except TypeError:
        return False


Pred = Callable[[Packet], bool]


def compile_filter(text: str) -> Pred:
    """Compile a filter expression into a predicate on :class:`Packet`.
    Raises :class:`FilterError` for a syntax error or an unknown field/word."""
    tokens = [m.group(1) for m in _TOKEN.finditer(text)]
    if "".join(tokens).replace(" ", "") != re.sub(r"\s+", "", text):
        raise FilterError(f"cannot tokenize {text!r}")
    pos = 0

    def peek():
        return tokens[pos].lower() if pos < len(tokens) else None

    def take():
        nonlocal pos
        if pos >= len(tokens):
            raise FilterError(f"unexpected end of filter {text!r}")
        pos += 1
        return tokens[pos - 1]

    def expr() -> Pred:
        parts = [term()]
        while peek() in ("or", "||"):
            take()
            parts.append(term())
        return parts[0] if len(parts) == 1 else (lambda p: any(f(p) for f in parts))

    def term() -> Pred:
        parts = [factor()]
        while peek() in ("and", "&&"):
            take()
            parts.append(factor())
        return parts[0] if len(parts) == 1 else (lambda p: all(f(p) for f in parts))

    def factor() -> Pred:
        tok = take()
        low = tok.lower()
        if low in ("not", "!"):
            inner = factor()
            return lambda p: not inner(p)
        if tok == "(":
            inner = expr()
            if take() != ")":
                raise FilterError(f"missing ')' in {text!r}")
            return inner
        if peek() in _OPS:
            op = take()
            fld = low
            _values_check(fld)
            want = _coerce(fld, take())
            if op == "!=":
                def ne(p):
                    vals = _values(p, fld)
                    return bool(vals) and not any(_compare("==", v, want) for v in vals)
                return ne
            return lambda p: any(_compare(op, v, want) for v in _values(p, fld))
        if low == "dhcp6":
            return lambda p: p.kind == "dhcp6"
        if low in ("nd", "icmp6"):
            return lambda p: p.kind == "icmp6"
        if low == "malformed":
            return lambda p: p.error is not None or bool(p.framing_error)
        if low == "badsum":
            return lambda p: p.checksum_ok is False
        if low in _MSG_WORDS:
            return lambda p: packet_summary(p)[0].lower() == low
        raise FilterError(f"unknown word {tok!r} in {text!r}")

    def _values_check(fld):
        if fld not in ("kind", "msg", "src", "dst", "frame", "xid", "iaid", "type", "status",
                       "prefix"):
            raise FilterError(f"unknown field {fld!r} (kind, msg, src, dst, xid, iaid, type, "
                              "status, prefix, frame)")

    if not tokens:
        return lambda p: True
    pred = expr()
    if pos != len(tokens):
        raise FilterError(f"unexpected {tokens[pos]!r} in {text!r}")
    return pred
