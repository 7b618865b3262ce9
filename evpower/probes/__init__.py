"""Dependency checks behind /health/ready and /health/detailed (the views: evpower/health.py).

Every check runs on a small pool of threads of its own and is given HEALTH_CHECK_TIMEOUT
seconds: a dependency that hangs is reported down in time instead of hanging the probe.
Answers are reused for HEALTH_CACHE_SECONDS in process memory (not in Redis, which may be
the thing that is down), so however often probes come the database sees at most one check
per process and window.
"""
