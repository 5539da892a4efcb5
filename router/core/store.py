"""What the router core needs of the lease store, declared by the core.

:class:`BindingStore` is the interface the sans-I/O DHCPv6 server
(:mod:`router.core.dhcp_server`) calls synchronously: the durable copy of its
bindings (RFC 8415 §6.3: the server's record of each IA and its leases). The
backends live outside the core and satisfy it — SQLite
(:class:`router.store.SqliteLeaseStore`), PostgreSQL
(:class:`router.pgstore.PostgresLeaseStore`), and the agent's deferred view of
a remote database (:class:`router.io.commits.DeferredStore`); the core imports
none of them. :class:`router.store.LeaseStore`, the backends' common base,
adds what only the agent uses (settings, move signals, close).

The transaction rule: mutations (:meth:`~BindingStore.insert`,
:meth:`~BindingStore.update`, :meth:`~BindingStore.delete`) join the open
batch; nothing is durable, nor visible to other routers, until
:meth:`~BindingStore.commit` returns, and the core commits before it hands
out the Replies of that batch (:mod:`router.core.durable`), so a prefix a
client was told about is on disk (RFC 8415 §18.3). :meth:`~BindingStore.rollback`
forgets the batch. Reads see the committed state plus this store's own open
batch. Every method raises :class:`~router.errors.StoreError` when the
backend fails.
"""

from __future__ import annotations

from abc import abstractmethod
from ipaddress import IPv6Network
from typing import Protocol, runtime_checkable

from router.core.bindings import Binding, network_of

__all__ = ["BindingStore"]


@runtime_checkable
class BindingStore(Protocol):
    """The lease store as the core sees it (see the module docstring)."""

    @property
    @abstractmethod
    def pending(self) -> bool:
        """True while a batch holds uncommitted writes."""

    @property
    def deferred(self) -> bool:
        """True when the adapter commits this store off its event loop
        (:class:`router.io.commits.DeferredStore`): the core then hands its
        Replies over held (:meth:`DhcpServer.take_held
        <router.core.dhcp_server.DhcpServer.take_held>`) instead of
        committing in ``datagrams_to_send``."""
        return False

    @abstractmethod
    def load(self, router_id: str, interface: str | None = None) -> list[Binding]:
        """Bindings router ``router_id`` must know at start-up: those it serves
        (on ``interface``, or on any when ``None``), and those it anchors that
        moved to another router (it keeps their prefixes out of its pools)."""

    @abstractmethod
    def others_in(self, router_id: str, interface: str, network: IPv6Network
                  ) -> list[Binding]:
        """The bindings whose prefix lies inside ``network`` that
        :meth:`load` of (``router_id``, ``interface``) does not return: rows of
        other interfaces (also of a renamed or removed one), of other routers,
        expired or not. The core keeps their prefixes out of its pools and
        reclaims the expired ones."""

    @abstractmethod
    def insert(self, b: Binding) -> bool:
        """Add a new binding; ``False`` (and no change) when its prefix is held."""

    @abstractmethod
    def update(self, b: Binding) -> None:
        """Write ``b`` over the row of its prefix (insert it if absent)."""

    @abstractmethod
    def delete(self, prefix: IPv6Network, *, served_by: str | None = None,
               valid_until_max: float | None = None) -> bool:
        """Remove the binding of ``prefix``; with ``served_by`` only if that
        router serves it, with ``valid_until_max`` only if it has not been
        extended past that time. ``True`` if a row went."""

    @abstractmethod
    def find_client(self, duid: bytes, iaid: int) -> list[Binding]:
        """Every binding of (DUID, IAID), whichever router serves it."""

    @abstractmethod
    def find_prefix(self, prefix: IPv6Network) -> Binding | None:
        """The binding holding exactly ``prefix``, or ``None``."""

    def find_key(self, key: int) -> Binding | None:
        """:meth:`find_prefix` of the prefix ``key``
        (:func:`~router.core.bindings.prefix_key`); a backend may answer it
        without making the :class:`IPv6Network`."""
        return self.find_prefix(network_of(key))

    @abstractmethod
    def commit(self) -> None:
        """Make the open batch durable (per the configured sync level)."""

    @abstractmethod
    def rollback(self) -> None:
        """Discard the open batch."""
