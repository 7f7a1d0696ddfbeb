"""Encryption at rest (supportdesk.crypto): the key table, the progress of a resumable sweep,
the encrypted columns as `text` (a ciphertext outgrows varchar(100); PostgreSQL changes
varchar to text without rewriting the table), and the messages' blind index with, on
PostgreSQL, a GIN index over the exact expression agents.search queries. Existing rows are
encrypted by `manage.py rotate_encryption_key`, not here: it is resumable and runs while the
desk serves."""

import django.core.validators
from django.db import migrations, models

import supportdesk.cryptofields

INDEX = "chat_message_body_tokens_fts"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON chat_message "
            "USING GIN (to_tsvector('simple'::regconfig, body_tokens))"
        )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0025_calls"),
    ]

    operations = [
        migrations.CreateModel(
            name="EncryptionProgress",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("job", models.CharField(max_length=100, unique=True)),
                ("last_pk", models.BigIntegerField(default=0)),
                ("changed", models.BigIntegerField(default=0)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
        ),
        migrations.AddField(
            model_name="message",
            name="body_tokens",
            field=supportdesk.cryptofields.BlindIndexField(
                blank=True, db_default="", default="", source="body"
            ),
        ),
        migrations.AlterField(
            model_name="message",
            name="body",
            field=supportdesk.cryptofields.EncryptedTextField(),
        ),
        migrations.AlterField(
            model_name="visitor",
            name="email",
            field=supportdesk.cryptofields.EncryptedTextField(
                blank=True, max_length=254, validators=[django.core.validators.EmailValidator()]
            ),
        ),
        migrations.AlterField(
            model_name="visitor",
            name="name",
            field=supportdesk.cryptofields.EncryptedTextField(blank=True, max_length=100),
        ),
        migrations.CreateModel(
            name="DataKey",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "purpose",
                    models.CharField(
                        choices=[("data", "Data"), ("index", "Search index")], max_length=10
                    ),
                ),
                ("master_id", models.CharField(max_length=16)),
                ("wrapped", models.BinaryField()),
                ("retired", models.BooleanField(default=False)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("purpose__in", ["data", "index"])),
                        name="datakey_purpose_valid",
                    )
                ],
            },
        ),
        migrations.AddField(
            model_name="visitor",
            name="email_token",
            field=supportdesk.cryptofields.BlindIndexField(
                blank=True, db_default="", default="", source="email", whole=True
            ),
        ),
        migrations.AddIndex(
            model_name="visitor",
            index=models.Index(
                condition=models.Q(("email_token", ""), _negated=True),
                fields=["email_token"],
                name="visitor_email_token",
            ),
        ),
        migrations.RunPython(create_index, drop_index),
    ]
