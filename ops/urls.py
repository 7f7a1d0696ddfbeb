"""Operations' URLs (docs/OPERATIONS.md): probes for load balancers, metrics, the status page."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.decorators import permission_required
from django.urls import path

from ops import views

# Staff see the status page with this permission (or as superusers).
STATUS_PERMISSION = "chat.view_desk_status"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics_view, name="metrics"),
    path(
        "admin/status/",
        admin.site.admin_view(permission_required(STATUS_PERMISSION)(views.status_page)),
        name="ops_status",
    ),
]
