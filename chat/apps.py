from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from chat.attachments import file_deleted
        from chat.encryption import DataKeyStore
        from chat.models import Attachment
        from supportdesk import crypto

        crypto.store_register(DataKeyStore())  # the platform's keys live in chat's table

        # A deleted attachment row (a cascade too: erasure, retention) takes its files along.
        post_delete.connect(file_deleted, sender=Attachment, dispatch_uid="chat.file_deleted")

        from chat.calls import calls_end_with_conversation
        from chat.signals import conversation_ended

        # A chat that ends takes its call along, in the same transaction (chat.calls).
        conversation_ended.connect(calls_end_with_conversation, dispatch_uid="chat.calls_end")
