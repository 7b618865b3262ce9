"""payme provider (see provider.py / client.py)."""
