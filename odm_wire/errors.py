"""The one error type of the codec."""

from __future__ import annotations


class OdmError(Exception):
    """Root of odm's own exceptions."""


class WireFormatError(OdmError, ValueError):
    """A datagram, or a value to encode, that breaks the wire format.

    Raised by every ``decode*`` and ``encode*`` function of :mod:`odm_wire` and by
    nothing else there. ``offset`` is the octet offset, from the start of the
    datagram handed to ``decode``, of the field that is wrong (``-1`` when
    encoding); ``reason`` says what is wrong in words. A decode that raises has
    produced no partial result.
    """

    def __init__(self, reason: str, offset: int = -1) -> None:
        super().__init__(f"{reason} (at octet {offset})" if offset >= 0 else reason)
        self.reason = reason
        self.offset = offset
