"""Test support shared by every app's tests (nothing here ships in a production package)."""
