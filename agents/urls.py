from __future__ import annotations

from django.urls import path

from agents import assist_views, views

app_name = "agents"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("search", views.search, name="search"),
    path("availability", views.availability, name="availability"),
    path("analytics/", views.analytics, name="analytics"),
    path("analytics/export.csv", views.analytics_export, name="analytics_export"),
    path("replies/", views.saved_replies, name="replies"),
    path("replies/<int:pk>/delete", views.saved_reply_delete, name="reply_delete"),
    path("conversations/<int:pk>/", views.conversation_detail, name="conversation"),
    path("conversations/<int:pk>/history", views.conversation_history, name="history"),
    path("conversations/<int:pk>/messages", views.conversation_reply, name="reply"),
    path("conversations/<int:pk>/notes", views.conversation_note, name="note"),
    path("conversations/<int:pk>/claim", views.conversation_claim, name="claim"),
    path("conversations/<int:pk>/transfer", views.conversation_transfer, name="transfer"),
    path("conversations/<int:pk>/end", views.conversation_end_view, name="end"),
    path("conversations/<int:pk>/reopen", views.conversation_reopen, name="reopen"),
    path("conversations/<int:pk>/labels", views.conversation_labels, name="labels"),
    path("conversations/<int:pk>/snooze", views.conversation_snooze, name="snooze"),
    path("conversations/<int:pk>/unsnooze", views.conversation_unsnooze, name="unsnooze"),
    path("conversations/<int:pk>/files", views.conversation_file_upload, name="file_upload"),
    path(
        "conversations/<int:pk>/assist/suggestion",
        assist_views.suggest_reply,
        name="assist_suggest",
    ),
    path("conversations/<int:pk>/assist/summary", assist_views.summarize, name="assist_summary"),
    path("files/<str:key>/discard", views.file_discard, name="file_discard"),
    path(
        "files/<str:key>/thumbnail/<path:name>",
        views.file_download,
        {"thumbnail": True},
        name="file_thumbnail",
    ),
    path("files/<str:key>/<path:name>", views.file_download, name="file_download"),
]
