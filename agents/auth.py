"""Logging in, with failed attempts throttled per user name and IP address, and per IP address.

Both login pages use it: the agents' (`ThrottledLoginView`, which answers a throttled attempt
with 429 and Retry-After) and the Django admin's (`ThrottledAdminAuthenticationForm`, set as
`admin.site.login_form`; the admin's own view renders the error with its usual status). While a
name is throttled the password is not even checked, so guessing on is pointless; a successful
login does not reset the count (an attacker who also owns one account cannot clear the limit).
"""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpResponse
from django.utils.translation import ngettext

from supportdesk import ratelimit


class ThrottledLoginMixin:
    """For an AuthenticationForm: refuse while too many recent attempts failed; count failures."""

    request: Any
    retry_after: int = 0

    def clean(self) -> dict[str, Any]:
        ip = ratelimit.client_ip(self.request) if self.request else "unknown"
        name = str(self.data.get("username", "")).strip().lower()[:150]  # type: ignore[attr-defined]
        keys = [("login", f"{ip}:{name}"), ("login_ip", ip)]
        self.retry_after = max(ratelimit.waiting(limit, key) for limit, key in keys)
        if self.retry_after:
            minutes = math.ceil(self.retry_after / 60)
            raise forms.ValidationError(
                ngettext(
                    "Too many failed attempts. Try again in %(n)d minute.",
                    "Too many failed attempts. Try again in %(n)d minutes.",
                    minutes,
                )
                % {"n": minutes},
                code="throttled",
            )
        try:
            return super().clean()  # type: ignore[misc]
        except forms.ValidationError:
            for limit, key in keys:
                ratelimit.hit(limit, key, refuses=False)
            raise


class ThrottledAuthenticationForm(ThrottledLoginMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(ThrottledLoginMixin, AdminAuthenticationForm):
    pass


class ThrottledLoginView(auth_views.LoginView):
    authentication_form = ThrottledAuthenticationForm

    def form_invalid(self, form: ThrottledAuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        if form.retry_after:
            response.status_code = 429
            response["Retry-After"] = str(form.retry_after)
        return response
