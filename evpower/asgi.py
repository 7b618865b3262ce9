"""ASGI entry point: HTTP goes to Django, WebSocket connections to the OCPP bridge."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evpower.settings")

# Must run before anything imports models: get_asgi_application() calls django.setup().
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from evpower import ws_guard  # noqa: E402
from evpower.routing import websocket_application  # noqa: E402
from evpower.sentry import wrap_websocket  # noqa: E402
from stations.edge_cache import MapEdgeCache  # noqa: E402

if settings.DEBUG:
    # uvicorn has no static file serving of its own; in development let Django serve the admin's
    # assets. In production static files come from STATIC_ROOT behind a proper server.
    django_asgi_app = ASGIStaticFilesHandler(django_asgi_app)

# Everything loaded so far (Django, apps, schemas) lives as long as the process. Moving it
# out of the collector's reach keeps full collections short: measured under 200 chargers,
# they otherwise paused the event loop for up to ~50 ms, every charger's reply with it.
gc.freeze()

application = ProtocolTypeRouter(
    {
        "http": MapEdgeCache(django_asgi_app),
        # per-IP connection limits, and the 1001 drain on shutdown (evpower/serve.py)
        "websocket": ws_guard.install(wrap_websocket(websocket_application)),  # Sentry if on
    }
)
