"""WebSocket routes. Chargers: /ocpp/<identity> and /ws/<identity>; extra trailing
path segments (some chargers append their id or a version) are tolerated."""

from channels.routing import URLRouter
from django.urls import re_path

from .consumers import OcppConsumer

websocket_application = URLRouter([
    re_path(r"^(?:ocpp|ws)/(?P<identity>[^/]+)(?:/.*)?$", OcppConsumer.as_asgi()),
])
