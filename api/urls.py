"""The REST API's URLs, under /api/v1/ (supportdesk/urls.py; docs/API.md), and the agent's
own API tokens page."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path
from drf_spectacular.views import SpectacularAPIView

from api import pages, views
from api.docs import SchemaDocs

app_name = "api"

urlpatterns: list[URLPattern | URLResolver] = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SchemaDocs.as_view(url_name="api:schema"), name="docs"),
    path("inboxes/", views.InboxList.as_view(), name="inboxes"),
    path("inboxes/<int:pk>/", views.InboxDetail.as_view(), name="inbox"),
    path("conversations/", views.ConversationList.as_view(), name="conversations"),
    path("conversations/<int:pk>/", views.ConversationDetail.as_view(), name="conversation"),
    path("conversations/<int:pk>/messages/", views.MessageList.as_view(), name="messages"),
    path("conversations/<int:pk>/claim/", views.ConversationClaim.as_view(), name="claim"),
    path("conversations/<int:pk>/assign/", views.ConversationAssign.as_view(), name="assign"),
    path("conversations/<int:pk>/transfer/", views.ConversationTransfer.as_view(), name="transfer"),
    path("conversations/<int:pk>/end/", views.ConversationEnd.as_view(), name="end"),
    path("conversations/<int:pk>/read/", views.ConversationRead.as_view(), name="read"),
    path("visitors/", views.VisitorList.as_view(), name="visitors"),
    path("visitors/<int:pk>/", views.VisitorDetail.as_view(), name="visitor"),
    path("saved-replies/", views.SavedReplyList.as_view(), name="saved_replies"),
    path("agents/", views.AgentList.as_view(), name="agents"),
    path("agents/me/availability/", views.AgentAvailability.as_view(), name="availability"),
    path("agents/<str:pk>/", views.AgentDetail.as_view(), name="agent"),
    path(
        "bot/conversations/<int:pk>/messages/",
        views.BotMessageCreate.as_view(),
        name="bot_messages",
    ),
    path("bot/conversations/<int:pk>/handover/", views.BotHandover.as_view(), name="bot_handover"),
    # The agent's own tokens: a page of the workspace (HTML, session login), not the API.
    path("tokens/", pages.tokens_page, name="tokens_page"),
    path("tokens/<int:pk>/revoke", pages.token_revoke, name="token_revoke"),
]
