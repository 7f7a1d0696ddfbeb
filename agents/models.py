"""Agents: the people who answer chats. One Agent per Django user that works in the dashboard."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Agent(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent"
    )
    display_name = models.CharField(max_length=100)
    inboxes = models.ManyToManyField("chat.Inbox", related_name="agents", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name
