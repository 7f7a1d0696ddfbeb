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
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import HttpResponse
from django.utils.translation import ngettext

from agents.models import Agent
from supportdesk import ratelimit


class ThrottledLoginMixin:
    """For an AuthenticationForm: refuse while too many recent attempts failed; count failures."""

    request: Any
    retry_after: int = 0

    def clean(self) -> dict[str, Any]:
        ip = ratelimit.client_ip(self.request) if self.request else "unknown"
        # The name as the form will authenticate it (UsernameField: stripped, NFKC), so a
        # look-alike spelling (a fullwidth letter, U+FF41 for `a`) counts against the name it logs
        # in as.
        field = self.fields["username"]  # type: ignore[attr-defined]
        raw = self.data.get("username", "")  # type: ignore[attr-defined]
        name = (field.to_python(raw if isinstance(raw, str) else "") or "").casefold()[:150]
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


class AgentModelBackend(ModelBackend):
    """Django's ModelBackend, loading the user's agent profile in the same statement: every
    dashboard request and socket needs both (`agents.selectors.agent_for_user` then asks
    nothing more). Written out once in SQL: building the ORM's query for it cost more of the
    process's time than PostgreSQL spent answering (docs/PERFORMANCE.md). Listed before
    ModelBackend in AUTHENTICATION_BACKENDS, which stays for the sessions it signed in."""

    def get_user(self, user_id: Any) -> Any:
        user_model = get_user_model()
        try:
            pk = user_model._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        users, agents = user_model._meta, Agent._meta
        user_columns = [field.column for field in users.concrete_fields]
        agent_columns = [field.column for field in agents.concrete_fields]
        quote = connection.ops.quote_name
        sql = (
            f"SELECT {', '.join(f'u.{quote(c)}' for c in user_columns)}, "  # noqa: S608 - names
            f"{', '.join(f'a.{quote(c)}' for c in agent_columns)} "
            f"FROM {quote(users.db_table)} u LEFT JOIN {quote(agents.db_table)} a "
            f"ON a.{quote(agents.get_field('user').column)} = u.{quote(users.pk.column)} "
            f"WHERE u.{quote(users.pk.column)} = %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [pk])
            row = cursor.fetchone()
        if row is None:
            return None
        user = _from_row(user_model, row[: len(user_columns)])
        agent_row = row[len(user_columns) :]
        agent = _from_row(Agent, agent_row) if agent_row[0] is not None else None
        user._state.fields_cache["agent"] = agent
        if agent is not None:
            agent._state.fields_cache["user"] = user
        return user if self.user_can_authenticate(user) else None


def _from_row(model: Any, values: tuple[Any, ...]) -> Any:
    """A model instance from its concrete columns as the database returned them, converted as
    the ORM converts them (SQLite gives datetimes as text, for one)."""
    fields = model._meta.concrete_fields
    converted = []
    for field, value in zip(fields, values, strict=True):
        for converter in connection.ops.get_db_converters(field.get_col(model._meta.db_table)):
            value = converter(value, field, connection)
        for converter in field.get_db_converters(connection):
            value = converter(value, field, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], converted)
