from __future__ import annotations

from django.urls import path

from chat.consumers import VisitorConsumer

websocket_urlpatterns = [
    path("ws/widget/<str:public_key>/", VisitorConsumer.as_asgi(), name="ws_widget"),
]
