"""click provider (see provider.py / client.py)."""
