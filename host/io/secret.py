"""The key of the host's stable interface identifiers (RFC 7217 §5, the
secret_key of F()), kept in a private file (odm/safefile.py)."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from host.config import HostConfig
from odm.safefile import UnsafePath, read_private, write_private

__all__ = ["load_secret"]

log = logging.getLogger("host.io.agent")


def load_secret(config: HostConfig) -> bytes:
    """The stable-IID secret: ``config.secret``, else ``config.secret_file``
    (16 random octets written there on first use), else a fresh random one.
    The file is read without following a symlink and only if the agent's uid
    owns it, and written as a new mode-0600 file renamed into place
    (odm/safefile.py); an unsafe one raises :class:`UnsafePath`."""
    if config.secret:
        return bytes.fromhex(config.secret)
    p = Path(config.secret_file)
    try:
        return bytes.fromhex(read_private(p).decode().strip())
    except UnsafePath:
        raise
    except (OSError, ValueError, UnicodeDecodeError):
        pass
    key = secrets.token_bytes(16)
    try:
        write_private(p, (key.hex() + "\n").encode())
    except UnsafePath:
        raise
    except OSError as exc:
        log.warning("cannot store IID secret in %s (%s): stable IIDs last this run only", p, exc)
    return key
