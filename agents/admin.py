from __future__ import annotations

from django.contrib import admin

from agents.models import Agent


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["display_name", "user", "created_at"]
    list_filter = ["inboxes"]
    search_fields = ["display_name", "user__username", "user__email"]
    filter_horizontal = ["inboxes"]
    autocomplete_fields = ["user"]
