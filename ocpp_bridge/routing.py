"""The chargers' WebSocket routes: /ocpp/<identity> and /ws/<identity>; extra trailing
path segments (some chargers append their id or a version) are tolerated. Composed with
the app's and the staff's sockets in evpower/routing.py."""

from django.urls import re_path

from .consumers import OcppConsumer

charger_routes = [
    re_path(r"^(?:ocpp|ws)/(?P<identity>[^/]+)(?:/.*)?$", OcppConsumer.as_asgi()),
]
