"""Sessions of odm's host core with router cores in memory, recorded as a
capture (Ethernet/IPv6 frames with the lab's addresses) plus the actions that
drove them: golden captures without a network, for the conformance tests."""

from __future__ import annotations

from pathlib import Path

from odm.pcaptools.capture import read_capture, write_pcap
from odm.pcaptools.conformance import Action
from odm.pcaptools.craft import frame_for
from odm.pcaptools.golden import (
    HOST_LL,
    HOST_MAC,
    ROUTER_LL,
    ROUTER_MAC,
    Golden,
    core_host_peer,
    core_router_peer,
)
from odm.pcaptools.packets import dissect_all


class Session:
    """``Session(tmp, routers=("ar1",))``: a host core attached to the first
    router core. ``setsc``/``close``/``move``/``run`` drive it; ``frames``
    holds every datagram, ``actions`` what was done before which frame."""

    def __init__(self, workdir: Path, routers=("ar1",), epoch: float = 1_700_000_000.0,
                 **host_overrides) -> None:
        self.golden = Golden(Path(workdir) / "session.pcap", "memory session",
                             routers=tuple(routers))
        self.rp = core_router_peer(self.golden, Path(workdir) / "rec", now=0.0)
        self.hp = core_host_peer(self.golden, Path(workdir) / "rec", now=0.0, start=False,
                                 **host_overrides)
        self.host = self.hp.core
        self.attached = routers[0]
        self.now = 0.0
        self.epoch = epoch
        self.frames: list[tuple[float, bytes]] = []
        self.actions: list[Action] = []
        self.owner_seq = 0
        self._start()

    def _start(self) -> None:
        self.host.start(self.now)
        self.pump()

    def _record(self, payload: bytes, kind: str, src, dst, smac) -> None:
        self.frames.append((self.epoch + self.now,
                            frame_for(payload, src, dst, kind=kind, src_mac=smac)))

    def pump(self) -> None:
        from host.core.events import AddressAdded

        router = self.rp.routers[self.attached]
        for _ in range(100):
            moved = False
            for o in self.host.datagrams_to_send():
                self._record(o.payload, o.kind, HOST_LL, o.dst, HOST_MAC)
                router.handle_datagram(o.payload, HOST_LL, self.now, kind=o.kind, hop_limit=255)
                moved = True
            for o in router.datagrams_to_send():
                self._record(o.payload, o.kind, ROUTER_LL[self.attached], o.dst,
                             ROUTER_MAC[self.attached])
                self.host.handle_datagram(o.payload, ROUTER_LL[self.attached], self.now,
                                          kind=o.kind, hop_limit=255)
                moved = True
            while (e := self.host.next_event()) is not None:
                if isinstance(e, AddressAdded):
                    self.host.address_ready(e.address, self.now)
                    moved = True
            if not moved:
                return

    def run(self, seconds: float) -> None:
        """Let ``seconds`` pass: timers of the host and of every router run."""
        end = self.now + seconds
        while True:
            cores = [self.host, *self.rp.routers.values()]
            ts = [t for t in (c.get_timer() for c in cores) if t is not None]
            if not ts or min(ts) > end:
                break
            self.now = max(self.now, min(ts))
            for c in cores:
                t = c.get_timer()
                if t is not None and t <= self.now:
                    c.handle_timer(self.now)
            for name, r in self.rp.routers.items():
                if name != self.attached:
                    r.datagrams_to_send()
            self.pump()
        self.now = end
        self.pump()

    def _act(self, do: str, **args) -> None:
        self.actions.append(Action(len(self.frames) + 1, do, args))

    def setsc(self, t: str, on_net: bool = False) -> int:
        self.owner_seq += 1
        self._act("setsc", type=t, owner=self.owner_seq, on_net=on_net)
        self.host.setsc(self.owner_seq, self.owner_seq, t, self.now, on_net=on_net)
        self.pump()
        return self.owner_seq

    def close(self, owner: int) -> None:
        self._act("close", owner=owner)
        self.host.close_owner(owner, self.now)
        self.pump()

    def move(self, router: str) -> None:
        self._act("move", router=router)
        self.attached = router
        self.host.link_up(self.now)
        self.pump()

    def write(self, path: Path) -> list:
        """Write the capture; return its dissected packets."""
        write_pcap(path, self.frames)
        return dissect_all(read_capture(path))
