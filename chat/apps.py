from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from chat.attachments import file_deleted
        from chat.models import Attachment

        # A deleted attachment row (a cascade too: erasure, retention) takes its files along.
        post_delete.connect(file_deleted, sender=Attachment, dispatch_uid="chat.file_deleted")
