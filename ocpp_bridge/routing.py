"""WebSocket routes. Chargers: /ocpp/<identity> and /ws/<identity>; extra trailing
path segments (some chargers append their id or a version) are tolerated."""

from channels.routing import URLRouter
from django.urls import re_path

from stations.consumers import AppConsumer
from stations.staff_consumers import StaffConsumer

from .consumers import OcppConsumer

websocket_application = URLRouter(
    [
        # first: "/ws/app/" would otherwise read as a charger called "app"
        re_path(r"^ws/app/?$", AppConsumer.as_asgi()),
        re_path(r"^ws/staff/?$", StaffConsumer.as_asgi()),  # the cockpit; before chargers too
        re_path(r"^(?:ocpp|ws)/(?P<identity>[^/]+)(?:/.*)?$", OcppConsumer.as_asgi()),
    ]
)
