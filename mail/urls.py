"""The mail app's URLs. Two sit beside their siblings of other apps, so that a later button can
post to them as the others do: the widget's transcript under `widget/KEY/conversations/N/`
(relative to the widget page, like the rating), the agent's under `agents/conversations/N/`."""

from __future__ import annotations

from django.urls import path

from mail import views

app_name = "mail"

urlpatterns = [
    path("mail/continue/<str:token>/", views.continue_chat, name="continue"),
    path("mail/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("mail/inbound/", views.inbound, name="inbound"),
    path("mail/settings/", views.agent_settings, name="settings"),
    path(
        "widget/<str:public_key>/conversations/<int:pk>/transcript",
        views.widget_transcript,
        name="widget_transcript",
    ),
    path(
        "agents/conversations/<int:pk>/transcript",
        views.agent_transcript,
        name="agent_transcript",
    ),
]
