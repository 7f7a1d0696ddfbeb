"""The inbox's Install page in the admin (/admin/chat/inbox/ID/install/, linked from the inbox's
page): the embed snippet with a Copy button, whether the widget has been seen on a site
(chat.install), the widget's look (title, greeting, accent colour, launcher side) with a
preview that follows the fields as they are edited (static/supportdesk/install.js), and the
identity verification secret, hidden until an admin presses Reveal (which the admin log
records).

For the desk's admins only: staff who may change the inbox. Anyone else signed in gets the 403
page, which says whom to ask; someone signed out goes to the admin's login.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib.admin.utils import unquote
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

from chat.install import CacheUnavailable, widget_last_seen
from chat.models import Inbox

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

TEMPLATE = "admin/chat/inbox/install.html"
NOT_AN_ADMIN = _(
    "Installing an inbox's chat widget is for the desk's admins (staff who may change inboxes)."
)

InstallView = Callable[["ModelAdmin[Inbox]", HttpRequest, Inbox], HttpResponse]


class AppearanceForm(forms.ModelForm):
    """What the preview shows: the widget's title, greeting, accent colour and launcher side."""

    class Meta:
        model = Inbox
        fields = ["widget_title", "greeting", "accent_color", "launcher_position"]
        widgets = {
            "accent_color": forms.TextInput(attrs={"type": "color"}),
            "greeting": forms.Textarea(attrs={"rows": 3}),
            "launcher_position": forms.RadioSelect,
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # An empty title shows the inbox's name: the field's placeholder says so, and the
        # preview reads it.
        self.fields["widget_title"].widget.attrs["placeholder"] = self.instance.name


def admins_only(model_admin: ModelAdmin[Inbox], view: InstallView) -> Callable[..., HttpResponse]:
    """`view(model_admin, request, inbox)` for staff who may change the inbox; the admin's login
    for someone signed out; 403 for anyone else (before the lookup: ids are not confirmed)."""

    @wraps(view)
    def wrapper(request: HttpRequest, object_id: str) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            login = reverse("admin:login", current_app=model_admin.admin_site.name)
            return redirect_to_login(request.get_full_path(), login)
        if not (user.is_active and user.is_staff and model_admin.has_change_permission(request)):
            raise PermissionDenied(NOT_AN_ADMIN)
        inbox = model_admin.get_object(request, unquote(object_id))
        if inbox is None:
            raise Http404
        if not model_admin.has_change_permission(request, inbox):
            raise PermissionDenied(NOT_AN_ADMIN)
        return view(model_admin, request, inbox)

    return never_cache(csrf_protect(wrapper))


def install_urls(model_admin: ModelAdmin[Inbox]) -> list[URLPattern]:
    """The Install page's URLs, for InboxAdmin.get_urls (before the admin's own catch-all)."""
    return [
        path(
            "<path:object_id>/install/",
            admins_only(model_admin, install_view),
            name="chat_inbox_install",
        ),
        path(
            "<path:object_id>/install/seen/",
            admins_only(model_admin, install_seen_view),
            name="chat_inbox_install_seen",
        ),
        path(
            "<path:object_id>/install/secret/",
            require_POST(admins_only(model_admin, install_secret_view)),
            name="chat_inbox_install_secret",
        ),
    ]


def snippet(request: HttpRequest, inbox: Inbox) -> str:
    """The script tag for the customer's pages, naming this desk as the admin reached it."""
    src = request.build_absolute_uri(reverse("chat:widget_script"))
    return f'<script src="{src}" data-inbox="{inbox.public_key}" async></script>'


def seen_context(inbox: Inbox) -> dict[str, Any]:
    """What the check says: "seen" (where, when), "blocked" (loaded on a site that is not among
    the allowed embedding origins: the browser did not show it), "never", or "unknown" (the
    cache did not answer)."""
    try:
        seen = widget_last_seen(inbox.pk)
    except CacheUnavailable:
        return {"state": "unknown"}
    if seen is None:
        return {"state": "never"}
    allowed = inbox.allowed_origin_list
    origin = seen["origin"]
    blocked = bool(allowed) and bool(origin) and origin not in allowed
    at = datetime.fromtimestamp(seen["at"], UTC)
    recent = timezone.now() - at < timedelta(minutes=1)
    return {
        "state": "blocked" if blocked else "seen",
        "origin": origin,
        "at": at,
        # timesince says "0 minutes" for the first minute.
        "ago": gettext("just now") if recent else gettext("%(time)s ago") % {"time": timesince(at)},
    }


def _render(
    model_admin: ModelAdmin[Inbox],
    request: HttpRequest,
    inbox: Inbox,
    form: AppearanceForm,
    *,
    secret: str | None = None,
) -> TemplateResponse:
    context = {
        **model_admin.admin_site.each_context(request),
        "title": gettext("Install the chat widget"),
        "subtitle": inbox.name,
        "opts": model_admin.opts,
        "original": inbox,
        "inbox": inbox,
        "form": form,
        "snippet": snippet(request, inbox),
        "seen": seen_context(inbox),
        "allowed_origins": inbox.allowed_origin_list,
        "secret": secret,
    }
    return TemplateResponse(request, TEMPLATE, context)


def install_view(
    model_admin: ModelAdmin[Inbox], request: HttpRequest, inbox: Inbox
) -> HttpResponse:
    """GET: the page. POST: save the widget's look (the preview showed it), then back here."""
    if request.method == "POST":
        form = AppearanceForm(request.POST, instance=inbox)
        if form.is_valid():
            if form.changed_data:
                inbox.save(update_fields=form.changed_data)
                model_admin.log_change(request, inbox, [{"changed": {"fields": form.changed_data}}])
            model_admin.message_user(
                request, gettext("Saved: visitors see the new look on their next page.")
            )
            return redirect("admin:chat_inbox_install", inbox.pk)
    else:
        form = AppearanceForm(instance=inbox)
    return _render(model_admin, request, inbox, form)


def install_seen_view(
    model_admin: ModelAdmin[Inbox], request: HttpRequest, inbox: Inbox
) -> HttpResponse:
    """The check alone (install.js asks again while the widget has not been seen)."""
    return TemplateResponse(request, f"{TEMPLATE}#seen", {"seen": seen_context(inbox)})


def install_secret_view(
    model_admin: ModelAdmin[Inbox], request: HttpRequest, inbox: Inbox
) -> HttpResponse:
    """POST (Reveal): the secret, as JSON for install.js, else the page showing it. Each reveal
    is in the admin log, with who and when."""
    model_admin.log_change(request, inbox, "Revealed the identity verification secret.")
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"secret": inbox.identity_secret})
    return _render(
        model_admin, request, inbox, AppearanceForm(instance=inbox), secret=inbox.identity_secret
    )
