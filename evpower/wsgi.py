"""WSGI entry point (HTTP only: chargers need the ASGI application for WebSockets)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evpower.settings")

application = get_wsgi_application()
