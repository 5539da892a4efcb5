"""Build of odm's one compiled module, ``odm_wire._speedups`` (Cython): the fast
path of the DHCPv6 and RS/RA decoders. Everything else is in pyproject.toml.

The extension is optional: where it cannot be built, odm_wire runs its
pure-Python decoders (the same results, slower)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("odm_wire._speedups", ["odm_wire/_speedups.pyx"], optional=True)])
