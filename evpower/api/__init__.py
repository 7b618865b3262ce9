"""Conventions every driver-API endpoint follows: error envelope, pagination, language."""
