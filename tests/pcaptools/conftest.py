"""Fixtures of the pcap tool tests; builders live in crafted.py."""

from __future__ import annotations

import pytest
from crafted import write


@pytest.fixture
def pcap_path(tmp_path):
    """Factory: pcap_path(name, items) writes a crafted capture in tmp_path."""
    def make(name: str, items) -> str:
        return write(tmp_path / name, items)
    return make
