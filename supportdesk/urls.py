from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import permission_required
from django.urls import include, path
from django.views.generic import RedirectView

from agents.auth import ThrottledAdminAuthenticationForm, ThrottledLoginView
from supportdesk import views

# Failed logins are throttled on both login pages (agents.auth).
admin.site.login_form = ThrottledAdminAuthenticationForm
# The admin index links the status page.
admin.site.index_template = "admin/supportdesk_index.html"

# Staff see the status page with this permission (or as superusers).
STATUS_PERMISSION = "chat.view_desk_status"

# A database that cannot answer: 503 with Retry-After, not 500 (supportdesk.unavailable).
handler500 = "supportdesk.unavailable.server_error"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="agents:dashboard", permanent=False)),
    # Operations (docs/OPERATIONS.md): probes for load balancers, metrics, the status page.
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics_view, name="metrics"),
    path(
        "admin/status/",
        admin.site.admin_view(permission_required(STATUS_PERMISSION)(views.status_page)),
        name="ops_status",
    ),
    path("admin/", admin.site.urls),
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("agents/", include("agents.urls")),
    path("", include("chat.urls")),
]
