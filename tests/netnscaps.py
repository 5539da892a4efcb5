"""Capability sets of a running process, all of its threads (issue 13
point 16): read from /proc/<pid>/task/<tid>/status."""

from __future__ import annotations

from pathlib import Path

from odm.capabilities import CAPS


def thread_caps(pid: int) -> dict[int, dict[str, int]]:
    """{tid: {"CapEff": mask, "CapPrm": ..., "CapInh": ..., "CapBnd": ...,
    "CapAmb": ...}} of every thread of ``pid``."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        caps = {}
        for line in (task / "status").read_text().splitlines():
            k, _, v = line.partition(":")
            if k.startswith("Cap"):
                caps[k] = int(v.strip(), 16)
        out[int(task.name)] = caps
    return out


def mask(*names: str) -> int:
    m = 0
    for n in names:
        m |= 1 << CAPS[n]
    return m
