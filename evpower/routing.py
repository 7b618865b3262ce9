"""Every WebSocket route of the process, composed here at the root like the URLs: the
drivers' app socket, the operators' staff socket, then the chargers."""

from channels.routing import URLRouter
from django.urls import re_path

from cockpit.consumers import StaffConsumer
from ocpp_bridge.routing import charger_routes
from stations.consumers import AppConsumer

websocket_application = URLRouter(
    [
        # first: "/ws/app/" would otherwise read as a charger called "app"
        re_path(r"^ws/app/?$", AppConsumer.as_asgi()),
        re_path(r"^ws/staff/?$", StaffConsumer.as_asgi()),  # the cockpit; before chargers too
        *charger_routes,
    ]
)
