"""Model fields that store their values encrypted (supportdesk.crypto) when a key is set.

`EncryptedTextField` encrypts on the way into SQL (`get_prep_value`: inserts, updates, the
raw-SQL fast path calls `crypto.encrypt_text` itself) and decrypts on the way out
(`from_db_value`: model rows, `.values()`, and annotations whose output field is one, such as
the list previews). Its column is `text` whatever `max_length` says (a ciphertext is longer than
its plaintext); `max_length` still bounds the plaintext through validation.

SQL cannot look into a ciphertext: with a key set, a lookup other than `= ''` or `IS NULL` on
such a column raises FieldError instead of silently matching nothing (an admin search, an
`icontains`), and so does a transform (`Lower`, `__length`). Search goes through the blind
index (`BlindIndexField`).
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core import validators
from django.core.exceptions import FieldError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.lookups import Exact, IsNull
from django.utils.functional import cached_property

from supportdesk import crypto


class EncryptedTextField(models.TextField):
    def __init__(
        self, *args: Any, aad: str | None = None, preview_chars: int | None = None, **kwargs: Any
    ) -> None:
        # The associated data: the column's name (`chat.Message.body`), set when the field joins
        # its model; an output field of an expression names the column it reads (`aad=`).
        self.aad = aad
        self.preview_chars = preview_chars  # an output field that also cuts (list previews)
        super().__init__(*args, **kwargs)

    def contribute_to_class(self, cls: type[models.Model], name: str, **kwargs: Any) -> None:
        super().contribute_to_class(cls, name, **kwargs)
        if self.aad is None:
            self.aad = f"{cls._meta.label}.{name}"

    @cached_property
    def validators(self) -> list[Any]:
        found = list(super().validators)
        if self.max_length is not None:  # TextField does not check it; CharField did
            found.append(validators.MaxLengthValidator(self.max_length))
        return found

    def formfield(self, **kwargs: Any) -> Any:
        if self.max_length is not None:  # a line, as the CharField it replaces (admin forms)
            kwargs.setdefault("widget", forms.TextInput)
        return super().formfield(**kwargs)

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None:
            return None
        plain = crypto.decrypt_text(value, aad=self._aad())
        return plain[: self.preview_chars] if self.preview_chars is not None else plain

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or hasattr(value, "resolve_expression"):
            return value
        return crypto.encrypt_text(value, aad=self._aad())

    def get_lookup(self, lookup_name: str) -> Any:
        if crypto.enabled() and lookup_name not in ("exact", "isnull"):
            raise FieldError(f"{self._aad()} is encrypted: SQL cannot {lookup_name!r} it")
        return super().get_lookup(lookup_name)

    def get_transform(self, lookup_name: str) -> Any:
        if crypto.enabled():
            raise FieldError(f"{self._aad()} is encrypted: SQL cannot {lookup_name!r} it")
        return super().get_transform(lookup_name)

    def _aad(self) -> str:
        if self.aad is None:
            raise FieldError("an unbound EncryptedTextField needs aad= (the column it reads)")
        return self.aad


class EncryptedJSONField(EncryptedTextField):
    """A JSON value (a dict, a list...) stored as encrypted JSON text: what a JSONField held, for
    the copies of messages the outboxes keep (a webhook's payload). Not queryable by its keys
    in SQL, with or without a key: the column is text. A row written before the column was this
    (plain JSON, no prefix) reads as it is."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        text = super().from_db_value(value, expression, connection)
        return None if text is None else json.loads(text)

    def get_prep_value(self, value: Any) -> Any:
        if value is None or hasattr(value, "resolve_expression"):
            return value
        return crypto.encrypt_text(json.dumps(value, cls=DjangoJSONEncoder), aad=self._aad())

    def value_to_string(self, obj: models.Model) -> str:
        return json.dumps(self.value_from_object(obj), cls=DjangoJSONEncoder)


@EncryptedTextField.register_lookup
class EncryptedExact(Exact):
    """`= ''` only, with a key: every encryption of a value differs, so `= 'alice'` would
    match nothing and say nothing."""

    lookup_name = "exact"

    def get_prep_lookup(self) -> Any:
        if (
            crypto.enabled()
            and not hasattr(self.rhs, "resolve_expression")
            and self.rhs not in ("", None)
        ):
            raise FieldError(f"{self.lhs.output_field.aad} is encrypted: SQL cannot compare it")
        return super().get_prep_lookup()


EncryptedTextField.register_lookup(IsNull)


class BlindIndexField(models.TextField):
    """The blind index of another field of the row (`crypto.search_tokens` of `source`),
    computed whenever the row is saved or bulk-inserted: "" without a key."""

    def __init__(self, *args: Any, source: str = "", whole: bool = False, **kwargs: Any) -> None:
        self.source = source
        # One token of the whole value (`crypto.value_token`: an exact look-up, such as an
        # email address) rather than one per word.
        self.whole = whole
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        if self.whole:
            kwargs["whole"] = True
        kwargs.pop("editable", None)
        return name, path, args, kwargs

    def pre_save(self, model_instance: models.Model, add: bool) -> str:
        value = self.tokens(getattr(model_instance, self.source) or "")
        setattr(model_instance, self.attname, value)
        return value

    def tokens(self, text: str) -> str:
        return crypto.value_token(text) if self.whole else crypto.search_tokens(text)


class BlindIndexed:
    """Model mixin: a save naming `update_fields` saves the blind indexes of the fields it
    names too (`BlindIndexField.source`), so an index never lags its value."""

    def save(self, *args: Any, **kwargs: Any) -> None:
        named = kwargs.get("update_fields")
        if named is not None:
            named = list(named)
            for field in self._meta.concrete_fields:  # type: ignore[attr-defined]
                if isinstance(field, BlindIndexField) and field.source in named:
                    named.append(field.name)
            kwargs["update_fields"] = named
        super().save(*args, **kwargs)  # type: ignore[misc]
