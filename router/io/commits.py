"""Commits of a lease database one network round trip away, off the agent's
event loop (PostgreSQL; DESIGN §2, issue 15 point 2).

With SQLite the core commits the store in ``datagrams_to_send`` (a local
file: fast, synchronous). With a database on another machine that commit
would stall RAs, timers and every other client for a round trip or, with the
server slow or unreachable, for as long as it takes. So the agent wraps the
store:

* :class:`DeferredStore` is what the cores see. Writes do not touch the
  network: they are recorded (the batch's *ops*) and kept in an *overlay* so
  that the core's rare reads (a Rebind after a move, a reclamation) see them.
  The hot path reads nothing: the core keeps its table in memory, and an
  offer is not checked against the database (the Request's commit is the
  check).
* :class:`CommitPipeline` takes each core's held datagrams and events
  (:meth:`~router.core.dhcp_server.DhcpServer.take_held`) together with the
  ops written for them (:meth:`DeferredStore.seal`) and hands the ops to one
  database thread with a connection of its own; the thread commits what
  queued up meanwhile as one transaction (a burst, batched). When the commit
  is in, the held Replies leave and the events are carried out, in the order
  they were made. A commit that fails, or is not in within ``timeout``
  seconds, drops its Replies (counted ``store-commit-failed`` /
  ``store-commit-timeout``; the clients retransmit, RFC 8415 §15), and so do
  the batches queued behind it (they were made from the same, now doubtful,
  state): nothing is acknowledged that is not durable. The cores concerned
  turn stale (they answer no client, counting ``store-unavailable``) until
  their state is read again on the database thread, retried with back-off
  while the database is unreachable; the change of state is logged once.
  An Advertise (no acknowledgement) with no write behind it leaves at once.

A prefix another router took since this core last read the pools fails the
commit of its batch (the database's primary key): the state is re-read, the
prefix is kept out of the pool, and the client's retransmission gets another
one.
"""

from __future__ import annotations

import copy
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv6Network
from typing import Any

from router.core.bindings import Binding
from router.core.durable import Held
from router.errors import StoreError
from router.store import LeaseStore, MovedNotice

__all__ = ["CommitPipeline", "DeferredStore", "apply_ops"]

log = logging.getLogger("router.commits")

#: Batches the database thread merges into one transaction at most.
MAX_MERGE = 256
#: Back-off of the re-reads while the database is unreachable (seconds).
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0


def apply_ops(store: LeaseStore, ops: list[tuple]) -> None:
    """Write ``ops`` (what :class:`DeferredStore` recorded) to ``store`` and
    commit them as one transaction; a prefix held by another binding fails
    it. Raises StoreError after rolling back."""
    try:
        for op in ops:
            kind = op[0]
            if kind == "insert":
                if not store.insert(op[1]):
                    raise StoreError(f"{op[1].prefix} is held by another binding "
                                     "(allocated by another router meanwhile)")
            elif kind == "update":
                store.update(op[1])
            else:
                store.delete(op[1], served_by=op[2], valid_until_max=op[3])
        store.commit()
    except StoreError:
        store.rollback()
        raise


class DeferredStore(LeaseStore):
    """The cores' view of ``reader`` (a
    :class:`~router.pgstore.PostgresLeaseStore`) when the commits run on the
    database thread: writes recorded, reads of the database (on ``reader``'s
    connection) corrected by the writes not yet committed."""

    def __init__(self, reader: LeaseStore) -> None:
        self.reader = reader
        self._ops: list[tuple] = []
        #: prefix -> (batch number, the binding written, None: deleted)
        self._overlay: dict[IPv6Network, tuple[int, Binding | None]] = {}
        self._seq = 0

    # -- batches -------------------------------------------------------------------
    @property
    def deferred(self) -> bool:
        return True

    @property
    def pending(self) -> bool:
        return bool(self._ops)

    def seal(self) -> tuple[int, list[tuple]]:
        """The ops written since the last call and their batch number."""
        ops, self._ops = self._ops, []
        seq = self._seq
        self._seq += 1
        return seq, ops

    def settled(self, seq: int) -> None:
        """Batches up to ``seq`` are committed: the database shows them now."""
        ov = self._overlay
        for p in [p for p, (s, _) in ov.items() if s <= seq]:
            del ov[p]

    def discard(self) -> None:
        """Forget every write not committed (after a failed commit)."""
        self._ops = []
        self._overlay.clear()

    def commit(self) -> None:
        """Commit the open batch here and now, on ``reader``'s connection (for
        callers without the pipeline: shutdown, tests)."""
        seq, ops = self.seal()
        if not ops:
            return
        try:
            apply_ops(self.reader, ops)
        except StoreError:
            self.discard()
            raise
        self.settled(seq)

    def rollback(self) -> None:
        self.discard()

    # -- writes --------------------------------------------------------------------
    def _live(self, prefix: IPv6Network) -> tuple[bool, Binding | None]:
        hit = self._overlay.get(prefix)
        return (False, None) if hit is None else (True, hit[1])

    def insert(self, b: Binding) -> bool:
        known, cur = self._live(b.prefix)
        if known and cur is not None:
            return False
        c = copy.copy(b)
        self._ops.append(("insert", c))
        self._overlay[b.prefix] = (self._seq, c)
        return True

    def update(self, b: Binding) -> None:
        c = copy.copy(b)
        self._ops.append(("update", c))
        self._overlay[b.prefix] = (self._seq, c)

    def delete(self, prefix: IPv6Network, *, served_by: str | None = None,
               valid_until_max: float | None = None) -> bool:
        if served_by is not None or valid_until_max is not None:
            # a conditional delete (a reclamation): its answer needs the row
            known, cur = self._live(prefix)
            if not known:
                cur = self.reader.find_prefix(prefix)
            if cur is None or (served_by is not None and cur.served_by != served_by) or (
                    valid_until_max is not None and cur.valid_until > valid_until_max):
                return False
        self._ops.append(("delete", prefix, served_by, valid_until_max))
        self._overlay[prefix] = (self._seq, None)
        return True

    # -- reads ---------------------------------------------------------------------
    def load(self, router_id: str, interface: str | None = None) -> list[Binding]:
        return self.reader.load(router_id, interface)

    def others_in(self, router_id: str, interface: str, network: IPv6Network
                  ) -> list[Binding]:
        return self.reader.others_in(router_id, interface, network)

    def find_prefix(self, prefix: IPv6Network) -> Binding | None:
        known, cur = self._live(prefix)
        if known:
            return None if cur is None else copy.copy(cur)
        return self.reader.find_prefix(prefix)

    def find_client(self, duid: bytes, iaid: int) -> list[Binding]:
        ov = self._overlay
        out = [b for b in self.reader.find_client(duid, iaid) if b.prefix not in ov]
        out += [copy.copy(b) for _, b in ov.values()
                if b is not None and b.duid == duid and b.iaid == iaid]
        return out

    def moved_away(self, anchor: str) -> list[Binding]:
        return self.reader.moved_away(anchor)

    def all(self) -> list[Binding]:
        return self.reader.all()

    def get_meta(self, key: str) -> str | None:
        return self.reader.get_meta(key)

    def set_meta(self, key: str, value: str) -> None:
        self.reader.set_meta(key, value)

    def close(self) -> None:
        try:
            self.commit()
        finally:
            self.reader.close()

    # -- moves ---------------------------------------------------------------------
    @property
    def notifies_moves(self) -> bool:
        return self.reader.notifies_moves

    def listen_moves(self, anchor: str) -> int | None:
        return self.reader.listen_moves(anchor)

    def listen_fd(self) -> int | None:
        return self.reader.listen_fd()

    def drain_moves(self, timeout: float = 0.0) -> list[MovedNotice]:
        return self.reader.drain_moves(timeout)


# ------------------------------------------------------------------ pipeline
@dataclass(eq=False)
class _Entry:
    """One core's hand-over waiting for its commit."""

    owner: Any
    held: Held
    seq: int
    gen: int
    has_ops: bool
    done: bool = False
    timer: Any = None


@dataclass(eq=False)
class _Write:
    entry: _Entry
    ops: list[tuple]


@dataclass(eq=False)
class _Read:
    fn: Callable[[LeaseStore], Any]
    gen: int
    result: Any = None
    error: str | None = None
    extra: dict = field(default_factory=dict)


class CommitPipeline:
    """Commits of ``store`` (a :class:`DeferredStore`) on a thread of their
    own, on the connection ``open_writer()`` makes (called on that thread;
    it may raise StoreError, tried again with the next batch).

    ``release(owner, held)`` sends a core's held datagrams and carries out
    its events (on the loop); ``owner.core`` is the owner's
    :class:`~router.core.router.RouterCore`. ``timeout``: seconds a commit may
    take. ``clock()``: the loop's time (for the cores' rate-limited logs)."""

    def __init__(self, store: DeferredStore, open_writer: Callable[[], LeaseStore], loop, *,
                 timeout: float, release: Callable[[Any, Held], None],
                 clock: Callable[[], float] | None = None) -> None:
        self.store = store
        self.loop = loop
        self.timeout = timeout
        self.release = release
        self.clock = clock or loop.time
        self.gen = 0
        self.stats = {"commits": 0, "batches-committed": 0, "commit-failures": 0,
                      "commit-timeouts": 0, "reloads": 0, "reload-failures": 0}
        self.healthy = True
        self._open_writer = open_writer
        self._writer: LeaseStore | None = None
        self._inflight: deque[_Entry] = deque()
        self._stale: dict[int, Any] = {}   # id(owner) -> owner waiting for a re-read
        self._reload_handle = None
        self._reading = False
        self._backoff = BACKOFF_FIRST
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._dead_gen = -1
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="odm-db-commits", daemon=True)
        self._thread.start()

    # -- loop side -----------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    def submit(self, owner: Any, held: Held | None) -> None:
        """Hand over what ``owner``'s core queued (``held``, may be None)
        with the writes recorded since the last call."""
        seq, ops = self.store.seal()
        if held is None and not ops:
            return
        if held is None:
            held = Held([], [], 0)
        if not ops and (not self._inflight or (held.acks == 0 and not held.events)):
            # nothing to make durable, nothing acknowledged ahead of a commit
            self.release(owner, held)
            return
        e = _Entry(owner, held, seq, self.gen, bool(ops), done=not ops)
        self._inflight.append(e)
        if ops:
            e.timer = self.loop.call_later(self.timeout, self._expired, e)
            self._q.put(_Write(e, ops))

    def _expired(self, e: _Entry) -> None:
        e.timer = None
        if not e.done and e.gen == self.gen:
            self._fail(f"not committed within {self.timeout:g} s", timeout=True)

    def _committed(self, entries: list[_Entry]) -> None:
        for e in entries:
            if e.gen != self.gen:
                continue  # dropped already (a timeout): its Replies stay unsent
            e.done = True
            if e.timer is not None:
                e.timer.cancel()
                e.timer = None
            self.store.settled(e.seq)
        self.stats["commits"] += 1
        self.stats["batches-committed"] += len(entries)
        q = self._inflight
        while q and q[0].done:
            e = q.popleft()
            self.release(e.owner, e.held)

    def _failed(self, entries: list[_Entry], why: str) -> None:
        if any(e.gen == self.gen for e in entries):
            self._fail(why, timeout=False)

    def _fail(self, why: str, *, timeout: bool) -> None:
        """The commit of the oldest batches failed or is overdue: every batch
        in flight is dropped, the writes not committed are forgotten, the
        cores concerned re-read their state."""
        self.gen += 1
        self.stats["commit-timeouts" if timeout else "commit-failures"] += 1
        now = self.clock()
        while self._inflight:
            e = self._inflight.popleft()
            if e.timer is not None:
                e.timer.cancel()
            e.owner.core.dhcp.batch_failed(e.held, why, now, timeout=timeout)
            self._stale[id(e.owner)] = e.owner
        self.store.discard()
        if self.healthy:
            self.healthy = False
            log.error("lease database: commit %s (%s); no binding is acknowledged until "
                      "the database is back", "timed out" if timeout else "failed", why)
        self._backoff = BACKOFF_FIRST
        self._schedule_reload(0.0)

    def _schedule_reload(self, delay: float) -> None:
        if self._reload_handle is not None or self._reading or self._closed:
            return
        self._reload_handle = self.loop.call_later(delay, self._reload)

    def _reload(self) -> None:
        self._reload_handle = None
        owners = list(self._stale.values())
        if not owners or self._closed:
            return
        self._reading = True
        fetchers = [(o, o.core.dhcp.fetch_state) for o in owners]
        self._q.put(_Read(lambda s: [(o, f(s)) for o, f in fetchers], self.gen))

    def _read_done(self, job: _Read) -> None:
        self._reading = False
        if job.error is not None:
            self.stats["reload-failures"] += 1
            log.debug("lease database re-read failed: %s", job.error)
            self._schedule_reload(self._backoff)
            self._backoff = min(self._backoff * 2, BACKOFF_MAX)
            return
        if job.gen != self.gen:  # another failure meanwhile: read again
            self._schedule_reload(0.0)
            return
        self.stats["reloads"] += 1
        for owner, state in job.result:
            owner.core.dhcp.install_state(state)
            self._stale.pop(id(owner), None)
        self._backoff = BACKOFF_FIRST
        if not self._stale and not self.healthy:
            self.healthy = True
            log.warning("lease database reachable again: acknowledging bindings")
        if self._stale:
            self._schedule_reload(0.0)

    async def close(self) -> None:
        """Let the commits in flight finish (each within its bound), then stop
        the thread and close its connection."""
        import asyncio
        end = self.loop.time() + self.timeout + 1.0
        while self._inflight and self.loop.time() < end:
            await asyncio.sleep(0.01)
        self._closed = True
        if self._reload_handle is not None:
            self._reload_handle.cancel()
        self._q.put(None)
        await self.loop.run_in_executor(None, self._thread.join, self.timeout + 5.0)

    # -- database thread ---------------------------------------------------------------
    def _writer_store(self) -> LeaseStore:
        if self._writer is None:
            self._writer = self._open_writer()
        return self._writer

    def _run(self) -> None:
        later = None
        call = self.loop.call_soon_threadsafe
        while True:
            job = later if later is not None else self._q.get()
            later = None
            if job is None:
                break
            if isinstance(job, _Read):
                try:
                    job.result = job.fn(self._writer_store())
                except Exception as exc:  # noqa: BLE001 - reported to the loop
                    job.error = str(exc)
                call(self._read_done, job)
                continue
            jobs = [job]
            while len(jobs) < MAX_MERGE:
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if isinstance(nxt, _Write) and nxt.entry.gen == job.entry.gen:
                    jobs.append(nxt)
                else:
                    later = nxt
                    break
            entries = [j.entry for j in jobs]
            gen = job.entry.gen
            if gen != self.gen or gen <= self._dead_gen:
                call(self._failed, entries, "dropped behind a failed commit")
                continue
            try:
                apply_ops(self._writer_store(), [op for j in jobs for op in j.ops])
            except Exception as exc:  # noqa: BLE001 - reported to the loop
                self._dead_gen = gen
                call(self._failed, entries, str(exc))
                continue
            call(self._committed, entries)
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception as exc:  # noqa: BLE001
                log.error("closing the lease database commit connection: %s", exc)
