"""The Slack app manifest, generated from the command registry so it never drifts."""

from __future__ import annotations

from typing import Any

import yaml

from bot.registry import Registry

BOT_SCOPES = (
    "commands",  # the /testnet slash command
    "chat:write",  # replies, progress edits, confirmations, incident threads
    "chat:write.public",  # incident threads in public channels the bot was not invited to
    "usergroups:read",  # roles granted to Slack user groups
    "users:read",  # people named by their display names (users.info)
)
EVENTS_PATH = "/slack/events"
USAGE_HINT_LIMIT = 100


def usage_hint(registry: Registry) -> str:
    """``audit | deploy | help | ...``: every top-level command, cut to what Slack shows."""
    names = sorted({spec.path[0] for spec in registry.specs()})
    hint = ""
    for name in names:
        candidate = f"{hint} | {name}" if hint else name
        if len(candidate) > USAGE_HINT_LIMIT - 4:
            return hint + " | …"
        hint = candidate
    return hint


def manifest(registry: Registry, *, url: str | None, name: str = "testnet-bot") -> dict[str, Any]:
    """The manifest: HTTP mode when ``url`` is given, Socket Mode otherwise."""
    command: dict[str, Any] = {
        "command": "/testnet",
        "description": "Deploy, check and operate the testnet",
        "usage_hint": usage_hint(registry),
        "should_escape": False,
    }
    settings: dict[str, Any] = {
        "org_deploy_enabled": False,
        "socket_mode_enabled": url is None,
        "token_rotation_enabled": False,
    }
    if url is not None:
        endpoint = url.rstrip("/") + EVENTS_PATH
        command["url"] = endpoint
        settings["interactivity"] = {"is_enabled": True, "request_url": endpoint}
    else:
        settings["interactivity"] = {"is_enabled": True}
    return {
        "display_information": {
            "name": name,
            "description": "ChatOps for the testnet: deploys, sanity checks, incidents",
        },
        "features": {
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": [command],
        },
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": settings,
    }


def manifest_yaml(registry: Registry, *, url: str | None) -> str:
    """The manifest as YAML, ready to paste into api.slack.com/apps."""
    return yaml.safe_dump(manifest(registry, url=url), sort_keys=False, allow_unicode=True)
