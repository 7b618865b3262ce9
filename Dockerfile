FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --create-home --uid 10001 evpower
# pg_dump / pg_restore for the daily backups (maintenance/backups.py); mount BACKUP_DIR on a
# persistent volume. The client must be at least the server's major version.
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*

# Requirements first so code changes reuse the cached dependency layer.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Built with the development defaults (no secrets exist at build time); the files are read-only
# for the runtime user.
RUN python manage.py collectstatic --noinput

USER evpower
# From here on the settings refuse to start without a real SECRET_KEY and ALLOWED_HOSTS.
ENV EVPOWER_ENV=production
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4)"

# evpower.serve is uvicorn with a drain on SIGTERM: chargers are closed with 1001 (going away) so
# they reconnect to another process, then in-flight HTTP requests finish (up to 25 s; give the
# container a longer stop grace period). --proxy-headers: client address and scheme come from
# the load balancer's X-Forwarded-* headers, trusted from FORWARDED_ALLOW_IPS only.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "evpower.serve", "evpower.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers", "--ws-max-size", "1048576", "--timeout-graceful-shutdown", "25"]
