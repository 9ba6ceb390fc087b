"""What several capabilities share: the Kubernetes client for a network, and the port
through which a deploy's post-deploy gate runs the sanity checks without the deploy
capability depending on the sanity one (the composition root connects the two)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from bot.config import NetworkConfig
from bot.context import ServiceKey, Services
from bot.errors import CommandError

if TYPE_CHECKING:
    from integrations.kube import KubeClient


async def kube_for(services: Services, net: NetworkConfig) -> KubeClient:
    """The Kubernetes client for a network's context; a :class:`CommandError` saying
    what is missing and how to configure it when Kubernetes cannot be reached."""
    if services.kube is None:
        raise CommandError("Kubernetes is not available in this bot (no `kubernetes:` access).")
    return await services.kube.client(net.kube_context)


@dataclass(frozen=True)
class CheckRound:
    """One run of a network's sanity checks, as the post-deploy gate needs it."""

    verdict: Literal["pass", "fail", "error"]
    counts: str
    """``✅ 8 passed, ❌ 1 failed, ⚠️ 0 errors``."""
    problems: str
    """The failing (else erroring) checks in one line."""
    text: str
    """The whole report, for a thread."""


class SanityChecks(Protocol):
    """Runs a network's sanity checks for someone else (the post-deploy gate)."""

    def has_checks(self, net: NetworkConfig) -> bool:
        """Whether the network declares any check."""
        ...

    async def run(
        self, services: Services, name: str, net: NetworkConfig, *, source: str
    ) -> CheckRound:
        """Run the checks once, record the result under ``source``, and summarise it."""
        ...


SANITY_CHECKS: ServiceKey[SanityChecks] = ServiceKey(
    "sanity checks", "Sanity checks are not available in this bot."
)
"""The sanity checks, as the post-deploy gate runs them."""
