from __future__ import annotations

from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "mail"
    verbose_name = "Email"

    def ready(self) -> None:
        from django.core import checks

        from agents.housekeeping import periodic_tasks
        from chat.encryption import columns_register
        from mail.checks import mail_settings_check
        from mail.outbox import mail_housekeeping

        # Queued emails copy messages: the key rotation's sweep encrypts them too.
        columns_register("mail.OutboundEmail", ["text", "html"])

        # Notices are queued and the queue is sent on housekeeping's heartbeat (and by
        # `manage.py send_queued_mail` from cron): agents may not import mail, so mail hooks in.
        if mail_housekeeping not in periodic_tasks:
            periodic_tasks.append(mail_housekeeping)
        checks.register(mail_settings_check)
