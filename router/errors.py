"""Errors of the router agent."""

from __future__ import annotations

from odm_wire.errors import OdmError

__all__ = ["StoreError"]


class StoreError(OdmError):
    """The lease store could not do what was asked (disk full, locked too
    long, corrupt file). The core drops the Replies of the failed batch."""
