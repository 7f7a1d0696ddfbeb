"""The one place channel-layer group names are made.

Groups are keyed by who is entitled to listen, never by an id a client sends: an agent's socket
joins the groups of the inboxes it works in, a visitor's socket joins its own visitor group.
A socket therefore cannot subscribe to a conversation it has no right to (the Papercups hole).
Names are ASCII and well under the layer's 100-character limit.
"""

from __future__ import annotations


def inbox_group(inbox_id: int) -> str:
    return f"inbox.{inbox_id}"


def visitor_group(visitor_id: int) -> str:
    return f"visitor.{visitor_id}"


def inbox_widgets_group(inbox_id: int) -> str:
    """Every visitor socket of the inbox: whether anyone is online to answer."""
    return f"inbox.{inbox_id}.widgets"


def agent_group(agent_id: int) -> str:
    """Every dashboard tab of one agent: what they read in one tab is read in all."""
    return f"agent.{agent_id}"
