"""The drivers' map API: locations, stations, live status and prices (public, read-only)."""
