"""The lab's error: raised by :class:`lab.topology.Lab` and its parts."""

from __future__ import annotations


class LabError(RuntimeError):
    """A lab operation failed: the lab is not up, already up, a node or router
    is unknown, a namespace is missing, a helper program is not installed, or
    (from :meth:`Lab.down`) something could not be removed."""
