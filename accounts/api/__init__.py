"""Driver API for accounts: login by code, tokens, profile, favourites, push devices."""
