"""Admin for agents, saved replies and the activity log (read-only: it is an audit trail)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from agents.models import Activity, Agent, CannedResponse
from agents.presence import agent_presence


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["display_name", "user", "role", "presence", "capacity", "created_at"]
    list_filter = ["role", "availability", "inboxes"]
    search_fields = ["display_name", "user__username", "user__email"]
    filter_horizontal = ["inboxes"]
    autocomplete_fields = ["user"]
    fields = ["user", "display_name", "avatar", "role", "inboxes", "capacity", "availability"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("user")

    @admin.display(description="Presence")
    def presence(self, agent: Agent) -> str:
        return agent_presence(agent)


@admin.register(CannedResponse)
class CannedResponseAdmin(admin.ModelAdmin):
    list_display = ["__str__", "inbox", "agent", "body"]
    list_filter = ["inbox"]
    search_fields = ["shortcut", "body"]
    autocomplete_fields = ["agent"]


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "verb", "conversation", "target_agent", "detail"]
    list_filter = ["verb", "actor"]
    search_fields = ["actor__display_name", "detail"]
    list_select_related = ["actor", "conversation__visitor", "target_agent"]
    date_hierarchy = "created_at"
    readonly_fields = list_display

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
