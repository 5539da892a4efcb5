"""Captures of bench/setsc.py: kernel-timestamped DHCPv6 frames on the client's
interface (AF_PACKET, :class:`Capture`; dumpcap, :class:`Dumpcap`), and what
the figures take from them: the Solicit and the Reply carrying a prefix
(:func:`prefix_reply`), where an ON_NET setsc() spends its time
(:func:`breakdown`)."""

from __future__ import annotations

import signal
import socket
import statistics
import struct
import threading
import time
from pathlib import Path

from lab.nsutil import call_in_netns_thread as in_netns

__all__ = ["Capture", "Dumpcap", "breakdown", "prefix_reply"]

ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35


class Capture(threading.Thread):
    """Kernel-timestamped DHCPv6 frames on ``ifname`` in ``ns`` (AF_PACKET,
    SO_TIMESTAMPNS: CLOCK_REALTIME, the clock of ``time.time()``)."""

    def __init__(self, ns: str, ifname: str) -> None:
        super().__init__(daemon=True)

        def open_sock():
            # ETH_P_ALL: a packet socket of one protocol sees only received
            # frames; the taps of every protocol see the sent ones too
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            s.bind((ifname, ETH_P_ALL))
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            s.settimeout(0.05)
            return s
        self.sock = in_netns(ns, open_sock)
        self.frames: list[tuple[float, bytes]] = []
        self.halt = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                data, anc, _, _ = self.sock.recvmsg(65535, socket.CMSG_SPACE(16))
            except TimeoutError:
                continue
            ts = time.time()
            for level, kind, c in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(c) >= 16:
                    sec, nsec = struct.unpack("qq", c[:16])
                    ts = sec + nsec / 1e9
            with self.lock:
                self.frames.append((ts, data))

    def reset(self) -> None:
        with self.lock:
            self.frames.clear()

    def dhcp6(self) -> list[tuple[float, object]]:
        """(time, odm_wire message) of each DHCPv6 frame captured so far."""
        from odm.pcaptools.capture import LINKTYPE_ETHERNET, Frame
        from odm.pcaptools.packets import dissect
        with self.lock:
            frames = list(self.frames)
        out = []
        for i, (ts, data) in enumerate(frames, 1):
            p = dissect(Frame(i, ts, LINKTYPE_ETHERNET, data, len(data)))
            if p.kind == "dhcp6" and p.message is not None:
                out.append((ts, p.message))
        return out

    def close(self) -> None:
        self.halt.set()
        self.join(2)
        self.sock.close()


def prefix_reply(msgs) -> tuple[float, float] | None:
    """(first Solicit time, time of the first Reply carrying a prefix)."""
    from odm_wire.constants import MessageType
    sol = next((t for t, m in msgs if m.msg_type == MessageType.SOLICIT), None)
    for t, m in msgs:
        if m.msg_type == MessageType.REPLY and any(ia.prefixes for ia in m.ia_pds):
            return (sol, t) if sol is not None else None
    return None


class Dumpcap:
    """dumpcap on ``ifname`` in ``ns`` (a process of its own, so capturing
    takes nothing from the measuring thread), read back after :meth:`stop`."""

    def __init__(self, pair, ns: str, ifname: str, path: Path) -> None:
        self.path = path
        self.proc = pair.spawn(ns, ["dumpcap", "-q", "-i", ifname, "-f", "udp",
                                    "-w", str(path)], path.with_suffix(".log"))
        end = time.monotonic() + 5
        while not (path.exists() and path.stat().st_size > 0):
            if time.monotonic() > end or self.proc.poll() is not None:
                raise RuntimeError("dumpcap did not start: "
                                   + path.with_suffix(".log").read_text(errors="replace"))
            time.sleep(0.02)
        time.sleep(0.3)

    def stop(self) -> list[tuple[float, object]]:
        time.sleep(0.2)
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(10)
        from odm.pcaptools.capture import read_capture
        from odm.pcaptools.packets import dissect_all
        return [(p.time, p.message) for p in dissect_all(read_capture(self.path))
                if p.kind == "dhcp6" and p.message is not None]


def breakdown(stamps, msgs) -> dict:
    """Medians (µs) of where an ON_NET setsc() spends its time, from the
    sample stamps and the capture (one clock: CLOCK_REALTIME): host side
    until the Request (or a Solicit with Rapid Commit, when no server is
    known) is on the wire, the server's turn (that message → the Reply on
    the wire, veth both ways included), host side from the Reply to the
    return of setsc()+bind()."""
    from odm_wire.constants import MessageType
    reqs = [t for t, m in msgs if m.msg_type in (MessageType.REQUEST, MessageType.SOLICIT)]
    reps = [t for t, m in msgs if m.msg_type == MessageType.REPLY]
    rows = []
    for t0, t1 in stamps:
        rq = next((t for t in reqs if t0 <= t <= t1), None)
        rp = next((t for t in reps if rq is not None and rq <= t <= t1), None)
        if rq is not None and rp is not None:
            rows.append(((rq - t0) * 1e6, (rp - rq) * 1e6, (t1 - rp) * 1e6))
    if not rows:
        return {}
    return {"n": len(rows),
            "host_to_request_us": round(statistics.median(r[0] for r in rows)),
            "server_request_to_reply_us": round(statistics.median(r[1] for r in rows)),
            "host_reply_to_return_us": round(statistics.median(r[2] for r in rows))}
