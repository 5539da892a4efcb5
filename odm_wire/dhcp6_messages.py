"""DHCPv6 messages (RFC 8415 §8, §9): client/server messages named after
their msg-type, and relay messages, as frozen dataclasses. The options are
:mod:`odm_wire.dhcp6_options`; the codec is :mod:`odm_wire.dhcp6`, the
module to import them from."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv6Address
from typing import ClassVar

from odm_wire.constants import MessageType
from odm_wire.dhcp6_options import IAPD, ClientId, Option, RelayMsg, ServerId, StatusCode
from odm_wire.duid import Duid
from odm_wire.model import Container, model


@model
class Message(Container):
    """A client/server DHCPv6 message (RFC 8415 §8): msg-type, 24-bit
    transaction-id, options. Use the subclass named after the message type."""

    msg_type: ClassVar[MessageType]
    transaction_id: int
    options: tuple[Option, ...] = ()

    @property
    def status(self) -> StatusCode | None:
        """The message's own top-level Status Code (never one inside an IA), or
        None (= Success, RFC 8415 §7.5)."""
        return self.get(StatusCode)

    @property
    def client_duid(self) -> Duid | None:
        o = self.get(ClientId)
        return o.duid if o else None

    @property
    def server_duid(self) -> Duid | None:
        o = self.get(ServerId)
        return o.duid if o else None

    @property
    def ia_pds(self) -> list[IAPD]:
        return [o for o in self.options if type(o) is IAPD]

    def iter_options(self) -> Iterator[tuple[tuple[int, ...], Option]]:
        """Every option, nested ones too, with its path of indices; depth first."""
        yield from _walk(self.options, ())


def _walk(options, path):
    for i, o in enumerate(options):
        yield path + (i,), o
        inner = getattr(o, "options", None)
        if inner:
            yield from _walk(inner, path + (i,))


@model
class Solicit(Message):
    """SOLICIT (1), RFC 8415 §18.2.1."""

    msg_type: ClassVar[MessageType] = MessageType.SOLICIT


@model
class Advertise(Message):
    """ADVERTISE (2), RFC 8415 §18.3.9."""

    msg_type: ClassVar[MessageType] = MessageType.ADVERTISE


@model
class Request(Message):
    """REQUEST (3), RFC 8415 §18.2.2."""

    msg_type: ClassVar[MessageType] = MessageType.REQUEST


@model
class Confirm(Message):
    """CONFIRM (4), RFC 8415 §18.2.3."""

    msg_type: ClassVar[MessageType] = MessageType.CONFIRM


@model
class Renew(Message):
    """RENEW (5), RFC 8415 §18.2.4."""

    msg_type: ClassVar[MessageType] = MessageType.RENEW


@model
class Rebind(Message):
    """REBIND (6), RFC 8415 §18.2.5."""

    msg_type: ClassVar[MessageType] = MessageType.REBIND


@model
class Reply(Message):
    """REPLY (7), RFC 8415 §18.3.10."""

    msg_type: ClassVar[MessageType] = MessageType.REPLY


@model
class Release(Message):
    """RELEASE (8), RFC 8415 §18.2.7."""

    msg_type: ClassVar[MessageType] = MessageType.RELEASE


@model
class Decline(Message):
    """DECLINE (9), RFC 8415 §18.2.8."""

    msg_type: ClassVar[MessageType] = MessageType.DECLINE


@model
class Reconfigure(Message):
    """RECONFIGURE (10), RFC 8415 §18.3.11."""

    msg_type: ClassVar[MessageType] = MessageType.RECONFIGURE


@model
class InformationRequest(Message):
    """INFORMATION-REQUEST (11), RFC 8415 §18.2.6."""

    msg_type: ClassVar[MessageType] = MessageType.INFORMATION_REQUEST


@model
class RelayMessage(Container):
    """A relay agent/server message (RFC 8415 §9): hop-count, link-address,
    peer-address, options. Use :class:`RelayForw` or :class:`RelayRepl`."""

    msg_type: ClassVar[MessageType]
    hop_count: int
    link_address: IPv6Address
    peer_address: IPv6Address
    options: tuple[Option, ...] = ()

    @property
    def relayed(self) -> Message | RelayMessage | None:
        o = self.get(RelayMsg)
        return o.message if o else None


@model
class RelayForw(RelayMessage):
    """RELAY-FORW (12), RFC 8415 §9, §19.1 (options: Relay Message, Interface-Id)."""

    msg_type: ClassVar[MessageType] = MessageType.RELAY_FORW


@model
class RelayRepl(RelayMessage):
    """RELAY-REPL (13), RFC 8415 §9, §19.3."""

    msg_type: ClassVar[MessageType] = MessageType.RELAY_REPL


MESSAGE_CLASSES: dict[int, type] = {c.msg_type: c for c in (
    Solicit, Advertise, Request, Confirm, Renew, Rebind, Reply, Release, Decline,
    Reconfigure, InformationRequest, RelayForw, RelayRepl)}
