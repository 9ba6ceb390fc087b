"""Who may do what: named permissions granted to roles, roles held by platform
identities. Checks are small functions that raise :class:`PermissionDenied`."""

from __future__ import annotations

from bot import messages
from bot.config import BotConfig
from bot.core import Actor
from bot.errors import PermissionDenied


class Permissions:
    """Answers "which roles does this actor hold" and "may they do X"."""

    def __init__(self, config: BotConfig) -> None:
        self._config = config
        self._grants: dict[str, frozenset[str]] = {
            perm: frozenset(roles) for perm, roles in config.permissions.items()
        }

    def roles_of(self, actor: Actor) -> frozenset[str]:
        """Every role the actor holds on its platform."""
        held: set[str] = set()
        shell = self._config.chat.shell
        if actor.platform == "shell" and actor.id == shell.user:
            held.update(shell.roles)
        for name, role in self._config.roles.items():
            if actor.platform == "shell" and actor.id in role.shell_users:
                held.add(name)
            elif actor.platform == "slack" and (
                actor.id in role.slack_users or actor.groups.intersection(role.slack_groups)
            ):
                held.add(name)
            elif actor.platform == "discord" and (
                actor.id in {str(u) for u in role.discord_users}
                or actor.groups.intersection(str(r) for r in role.discord_roles)
            ):
                held.add(name)
        return frozenset(held)

    def has(self, actor: Actor, permission: str) -> bool:
        """True if any of the actor's roles is granted ``permission`` or ``admin``."""
        roles = self.roles_of(actor)
        return bool(
            roles & self._grants.get(permission, frozenset())
            or roles & self._grants.get("admin", frozenset())
        )

    def require(self, actor: Actor, permission: str, command: str) -> None:
        """Raise :class:`PermissionDenied` naming ``permission`` unless the actor has it."""
        if not self.has(actor, permission):
            raise PermissionDenied(
                messages.DENIED.format(permission=permission, command=command), permission
            )
