"""Octets sent per source address, read from the kernel's nftables counters
(:mod:`host.io.nftcount`) for rotation by octets (host/core/privacy.py,
``HostConfig.address_max_bytes``): the host agent's part that opens the
counters, follows the addresses the core rotates and reports the counts."""

from __future__ import annotations

import logging

from host.core.events import AddressAdded, AddressRemoved

__all__ = ["ByteCounts"]

log = logging.getLogger("host.io.agent")


class ByteCounts:
    """The counters of one agent: ``core()`` gives its host core, ``kick()``
    carries out what the core did with a report."""

    def __init__(self, config, loop, core, kick) -> None:
        self.config = config
        self.loop = loop
        self.core = core
        self.kick = kick
        self.nft = None
        self._handle = None

    def open(self) -> None:
        """Open the counters (an nftables table); without them rotation by
        octets is off, logged (rotation by age still works)."""
        from host.io.nftcount import ThreadedNftByteCounter
        nft = ThreadedNftByteCounter(self.config.iface)
        try:
            found = nft.open()
        except OSError as exc:
            nft.shutdown(remove=False)
            log.warning("%s: rotation by octets sent is off (rotation by age still works)",
                        exc)
            return
        self.nft = nft
        log.info("nftables table %s counts octets per source address (%d adopted)",
                 nft.table, len(found))
        self._handle = self.loop.call_later(self.config.byte_poll_interval, self._poll)

    def _poll(self) -> None:
        self._handle = None
        try:
            counts = self.nft.read()
        except Exception as exc:  # noqa: BLE001
            log.warning("nftables counters: %s", exc)
            counts = {}
        if counts:
            self.core().address_bytes(counts, self.loop.time())
            self.kick()
        self._handle = self.loop.call_later(self.config.byte_poll_interval, self._poll)

    def follow(self, ev) -> None:
        """Watch / unwatch an address in the kernel's counters."""
        if self.nft is None:
            return
        try:
            if type(ev) is AddressAdded:
                if self.core().rotation.applies(ev.mobility_type, ev.source):
                    self.nft.watch(ev.address)
            elif type(ev) is AddressRemoved:
                self.nft.unwatch(ev.address)
        except Exception as exc:  # noqa: BLE001
            log.warning("nftables counter of %s: %s", ev.address, exc)

    def close(self) -> None:
        """Stop polling and remove the table."""
        if self._handle:
            self._handle.cancel()
            self._handle = None
        if self.nft is not None:
            self.nft.shutdown(remove=True)
            self.nft = None
