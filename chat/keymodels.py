"""The tables of encryption at rest (supportdesk.crypto): the wrapped data keys, and where an
interrupted `rotate_encryption_key` goes on. Imported by chat.models (Django's models module)."""

from __future__ import annotations

from django.db import models


class DataKey(models.Model):
    """A random data key (DEK), wrapped by a master key: AES-GCM of the key, with the purpose
    as associated data. Never deleted while a value may name it (ciphertexts carry its id)."""

    class Purpose(models.TextChoices):
        DATA = "data", "Data"  # encrypts values and files
        INDEX = "index", "Search index"  # keys the HMAC of search words

    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    # Which master key wraps it (supportdesk.crypto.key_id): rotation re-wraps the others.
    master_id = models.CharField(max_length=16)
    wrapped = models.BinaryField()
    # A retired data key decrypts and is no longer used to encrypt (rotate --new-data-key).
    retired = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(purpose__in=["data", "index"]), name="datakey_purpose_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.purpose} key {self.pk} (master {self.master_id})"


class EncryptionProgress(models.Model):
    """How far a sweep of `rotate_encryption_key` got through one table: it goes on after the
    last primary key done when it is run again. Deleted when the sweep finishes."""

    job = models.CharField(max_length=100, unique=True)
    last_pk = models.BigIntegerField(default=0)
    changed = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.job} at {self.last_pk}"
