"""odengi provider (see provider.py / client.py)."""
