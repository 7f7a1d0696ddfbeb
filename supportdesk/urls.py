from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from agents.auth import ThrottledAdminAuthenticationForm, ThrottledLoginView

# Failed logins are throttled on both login pages (agents.auth).
admin.site.login_form = ThrottledAdminAuthenticationForm
# The admin index links the status page.
admin.site.index_template = "admin/supportdesk_index.html"

# A database that cannot answer: 503 with Retry-After, not 500 (supportdesk.unavailable).
handler500 = "supportdesk.unavailable.server_error"
# The desk's own 403 and 404 pages: what happened and what to do next (supportdesk.errors).
handler403 = "supportdesk.errors.permission_denied"
handler404 = "supportdesk.errors.page_not_found"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="agents:dashboard", permanent=False)),
    # Operations (docs/OPERATIONS.md): probes for load balancers, metrics, the status page
    # (before the admin's own URLs, whose catch-all would take admin/status/).
    path("", include("ops.urls")),
    path("admin/", admin.site.urls),
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("agents/", include("agents.urls")),
    # The REST API for the customer's own systems (docs/API.md).
    path("api/v1/", include("api.urls")),
    # Email: links from emails, the mail server's inbound replies, the transcript endpoints.
    path("", include("mail.urls")),
    path("", include("chat.urls")),
]
