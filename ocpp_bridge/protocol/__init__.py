"""OCPP-J protocol layer: frames, schema validation, per-version handlers.

Nothing in this package imports Django. It talks to the platform only through the
port interface in `ports.py`, so it can be unit-tested with plain asyncio and fakes.
"""
