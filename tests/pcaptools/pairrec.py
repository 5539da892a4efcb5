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
from odm_sansio import linksim


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
        self.epoch = epoch
        self.frames: list[tuple[float, bytes]] = []
        self.actions: list[Action] = []
        self.owner_seq = 0
        self.link = linksim.Link(0.0, rounds=100, on_send=self._record)
        from host.core.events import AddressAdded

        self.link.add("host", self.host, HOST_LL,
                      on_event=self.link.dad_done(self.host, AddressAdded, nodad_too=True))
        for name, core in self.rp.routers.items():
            self.link.add(name, core, ROUTER_LL[name], attached=name == self.attached)
        self.host.start(self.now)
        self.pump()

    @property
    def now(self) -> float:
        return self.link.now

    def _record(self, member, o) -> None:
        if member.attached:
            mac = HOST_MAC if member.name == "host" else ROUTER_MAC[member.name]
            self.frames.append((self.epoch + self.now, frame_for(
                o.payload, member.address, o.dst, kind=o.kind, src_mac=mac)))

    def pump(self) -> None:
        self.link.pump()

    def run(self, seconds: float) -> None:
        """Let ``seconds`` pass: timers of the host and of every router run."""
        self.link.run_for(seconds)

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
        self.link.attach(router, only=self.rp.routers)
        self.host.link_up(self.now)
        self.pump()

    def write(self, path: Path) -> list:
        """Write the capture; return its dissected packets."""
        write_pcap(path, self.frames)
        return dissect_all(read_capture(path))
