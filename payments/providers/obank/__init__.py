"""obank provider (see provider.py / client.py)."""
