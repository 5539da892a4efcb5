"""odm: On-Demand Mobility Management (RFC 8653) — command line and shared glue."""

__version__ = "0.1.0"
