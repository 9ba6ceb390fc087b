"""Composition of the incident feature: the desk, its webhook route, its GitHub route
and its timer, opened on the bot's ``AsyncExitStack``."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

from aiohttp import web

from bot.context import Services
from bot.webhooks import AlertmanagerWebhook
from commands.incidents.desk import DESK, IncidentDesk
from commands.incidents.text import FALLBACK_LABEL

if TYPE_CHECKING:
    import aiohttp


def wire_incidents(
    services: Services,
    app: web.Application,
    http: aiohttp.ClientSession,
    stack: AsyncExitStack,
    *,
    background: bool = True,
) -> IncidentDesk:
    """Create the desk, mount ``/hooks/alertmanager`` on ``app`` (before it starts),
    route ``github:*`` outbox items when GitHub is configured, and start the timer.
    Without ``background`` (a terminal session with no bot) only the desk is made:
    no webhook, no GitHub delivery, no timer."""
    config = services.config
    desk = IncidentDesk(config, services.store, services.outbox, clock=services.clock)
    services.provide(DESK, desk)
    if not background:
        return desk
    AlertmanagerWebhook(config.alertmanager, desk, services.metrics).mount(app)
    if config.github is not None:
        from commands.incidents.issues import github_route
        from integrations.github import GitHubClient

        client = GitHubClient(
            http,
            repo=config.github.repo,
            token=config.github.token.get_secret_value(),
            api_url=str(config.github.api_url),
        )
        services.outbox.add_route(
            "github",
            github_route(
                client,
                desk,
                per_minute=config.github.per_minute,
                per_hour=config.github.per_hour,
                fallback_label=FALLBACK_LABEL,
            ),
        )
    desk.start(services.supervisor.spawn)
    stack.push_async_callback(desk.stop)
    return desk
