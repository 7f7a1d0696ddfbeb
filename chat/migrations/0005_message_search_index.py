"""Full-text search over messages (PostgreSQL only): a GIN index on the exact expression that
agents.selectors.message_search queries, so the planner uses it. SQLite searches with LIKE."""

from django.db import migrations

INDEX = "chat_message_body_fts"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON chat_message "
            "USING GIN (to_tsvector('english'::regconfig, body))"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("chat", "0004_workspace")]
    operations = [migrations.RunPython(create, drop)]
