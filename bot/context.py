"""What a command handler is handed: the invocation and the bot's services."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from bot.config import BotConfig, NetworkConfig
from bot.core import ConfirmRequest, ConfirmResult, Invocation, MessageRef, Table
from bot.errors import CommandError, UsageError
from bot.permissions import Permissions
from bot.registry import Registry
from bot.tasks import TaskSupervisor
from state.store import Store

if TYPE_CHECKING:
    import aiohttp

    from bot.kube_access import KubeAccess
    from bot.metrics import Metrics
    from bot.outbox import Outbox
    from bot.registry_access import RegistryAccess


T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class ServiceKey(Generic[T]):
    """A typed key for a service one capability provides (aiohttp's ``AppKey`` pattern).

    The capability declares the key next to the service's type; the composition root
    provides the value; handlers ``need`` it and get the right type back, or a
    :class:`CommandError` that says what is not set up.
    """

    name: str
    missing: str
    """What the user is told when the service is not there (and how to set it up)."""

    def __repr__(self) -> str:
        return f"<ServiceKey {self.name}>"


@dataclass
class Services:
    """Everything long-lived the composition root opened, handed to handlers."""

    config: BotConfig
    store: Store
    registry: Registry
    permissions: Permissions
    outbox: Outbox
    supervisor: TaskSupervisor
    metrics: Metrics
    http: aiohttp.ClientSession | None = None
    kube: KubeAccess | None = None
    images: RegistryAccess | None = None
    clock: Callable[[], float] = time.time
    started_at: float = field(default_factory=time.time)
    provided: dict[ServiceKey[Any], Any] = field(default_factory=dict)
    """Services the capabilities declared keys for (see :meth:`provide`)."""

    def provide(self, key: ServiceKey[T], value: T) -> None:
        """Make ``value`` the service behind ``key`` (the composition root does this)."""
        self.provided[key] = value

    def get(self, key: ServiceKey[T]) -> T | None:
        """The service behind ``key``, or None when it is not set up."""
        value: T | None = self.provided.get(key)
        return value

    def need(self, key: ServiceKey[T]) -> T:
        """The service behind ``key``; a :class:`CommandError` naming what is missing."""
        value = self.get(key)
        if value is None:
            raise CommandError(key.missing)
        return value


@dataclass
class Context:
    """One command's view of the bot: who asked, how to answer, and the services."""

    invocation: Invocation
    services: Services
    approvers: tuple[str, ...] = ()
    """Who approved this command (by name), once its confirmation is approved."""

    @property
    def config(self) -> BotConfig:
        """The validated configuration."""
        return self.services.config

    @property
    def store(self) -> Store:
        """The state database."""
        return self.services.store

    @property
    def actor_name(self) -> str:
        """How to name the person who asked in messages and records."""
        return self.invocation.actor.name

    async def reply(self, text: str, *, table: Table | None = None) -> MessageRef:
        """Post a message where the command came from."""
        return await self.invocation.responder.reply(text, table=table)

    async def update(self, ref: MessageRef, text: str, *, table: Table | None = None) -> None:
        """Edit a message posted earlier."""
        await self.invocation.responder.update(ref, text, table=table)

    async def reply_in_thread(self, ref: MessageRef, text: str) -> MessageRef:
        """Post under an earlier message."""
        return await self.invocation.responder.reply_in_thread(ref, text)

    async def confirm(self, request: ConfirmRequest) -> ConfirmResult:
        """Ask for approval on the invocation's platform."""
        return await self.invocation.responder.confirm(request)

    def network(self, name: str | None) -> tuple[str, NetworkConfig]:
        """The named network, or the default one; a clear error if there is none."""
        networks = self.config.networks
        if name is None:
            name = self.config.default_network
            if name is None and len(networks) == 1:
                name = next(iter(networks))
            if name is None:
                if not networks:
                    raise CommandError(
                        "No networks are configured (see `networks:` in the config)."
                    )
                raise UsageError(f"Which network? Name one of: {', '.join(sorted(networks))}.")
        if name not in networks:
            known = ", ".join(sorted(networks)) or "none configured"
            raise UsageError(f"Unknown network `{name}` (known: {known}).")
        return name, networks[name]
