from __future__ import annotations

from django.urls import path

from chat import views

app_name = "chat"

urlpatterns = [
    path("widget.js", views.widget_script, name="widget_script"),
    path("widget/<str:public_key>/", views.widget_page, name="widget_page"),
    path("widget/<str:public_key>/session", views.widget_session, name="widget_session"),
    path(
        "widget/<str:public_key>/conversation",
        views.widget_conversation,
        name="widget_conversation",
    ),
    path("widget/<str:public_key>/messages", views.widget_send, name="widget_send"),
    path("widget/<str:public_key>/context", views.widget_context, name="widget_context"),
    path("widget/<str:public_key>/attributes", views.widget_attributes, name="widget_attributes"),
    path("widget/<str:public_key>/email", views.widget_email, name="widget_email"),
    path("widget/<str:public_key>/logo", views.inbox_logo, name="inbox_logo"),
    path("widget/<str:public_key>/faces/<int:agent_id>", views.agent_face, name="agent_face"),
    path("widget/<str:public_key>/profile", views.widget_profile, name="widget_profile"),
    path(
        "widget/<str:public_key>/conversations/<int:pk>/rating",
        views.widget_rate,
        name="widget_rate",
    ),
    path("widget/<str:public_key>/files", views.widget_file_upload, name="widget_file_upload"),
    path(
        "widget/<str:public_key>/files/<str:key>/discard",
        views.widget_file_discard,
        name="widget_file_discard",
    ),
    # A visitor's downloads carry their file pass (chat.attachments), not the widget's key.
    path(
        "files/<str:key>/thumbnail/<path:name>",
        views.file_download,
        {"thumbnail": True},
        name="file_thumbnail",
    ),
    path("files/<str:key>/<path:name>", views.file_download, name="file_download"),
    path("demo/", views.demo_page, name="demo"),
]
