"""Django's database sessions, read with one plain statement.

Every dashboard request and socket loads its session. Django's database store reads it with
`Session.objects.get(...)`, and building that query cost more of the process's time than
PostgreSQL spent answering it (docs/PERFORMANCE.md). This store reads the same row with the
same conditions (the key, not expired) in SQL written out once; everything else (saving,
rotating keys, clearing expired sessions) is Django's own.
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends.db import SessionStore as DatabaseStore
from django.db import connections, router
from django.utils import timezone


class SessionStore(DatabaseStore):
    def _get_session_from_db(self) -> Any:
        model = self.model
        if not isinstance(self.session_key, str):
            self._session_key = None
            return None
        connection = connections[router.db_for_read(model)]
        table = connection.ops.quote_name(model._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT session_data FROM {table}"  # noqa: S608 - a model's table
                " WHERE session_key = %s AND expire_date > %s",
                [self.session_key, connection.ops.adapt_datetimefield_value(timezone.now())],
            )
            row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return None
        return model(session_key=self.session_key, session_data=row[0])
