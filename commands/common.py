"""What several capabilities share: the Kubernetes client for a network, where a
durable run reports (its progress, and where a resumed one reports), and the port
through which a deploy's post-deploy gate runs the sanity checks without the deploy
capability depending on the sanity one (the composition root connects the two)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from bot.config import NetworkConfig
from bot.context import ServiceKey, Services
from bot.core import MessageRef
from bot.errors import CommandError
from bot.responder import OutboxResponder
from integrations.github_models import WorkflowRun
from integrations.probe_models import Probes
from state.records import Run

if TYPE_CHECKING:
    from integrations.kube import KubeClient

log = logging.getLogger("testnet_bot.runs")


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


PROBES: ServiceKey[Probes] = ServiceKey(
    "probes", "This bot has no HTTP client for Prometheus and HTTP checks."
)
"""The Prometheus and HTTP probes (sanity checks, the validators' epoch query)."""
class Workflows(Protocol):
    """GitHub Actions, as a deploy through CI needs it (``integrations.github``'s client)."""

    async def dispatch_workflow(
        self, workflow: str | int, *, ref: str, inputs: Mapping[str, str] | None = None
    ) -> None:
        """Start ``workflow`` on ``ref`` with ``inputs``."""
        ...

    async def list_workflow_runs(
        self,
        *,
        branch: str | None = None,
        workflow: str | int | None = None,
        event: str | None = None,
        head_sha: str | None = None,
        limit: int = 30,
    ) -> list[WorkflowRun]:
        """The newest runs, filtered."""
        ...

    async def get_workflow_run(self, run_id: int) -> WorkflowRun:
        """One run by id."""
        ...


WORKFLOWS: ServiceKey[Workflows] = ServiceKey(
    "GitHub workflows",
    "This network deploys through a GitHub workflow, but GitHub is not configured: "
    "set `github:` (repo and token).",
)
"""GitHub Actions, for networks whose deploys run in CI (``deploy.driver: github-workflow``)."""


SANITY_CHECKS: ServiceKey[SanityChecks] = ServiceKey(
    "sanity checks", "Sanity checks are not available in this bot."
)
"""The sanity checks, as the post-deploy gate runs them."""


class Progress(Protocol):
    """Where a rollout reports: the responder methods it needs."""

    async def reply(self, text: str) -> MessageRef: ...

    async def update(self, ref: MessageRef, text: str) -> None: ...

    async def reply_in_thread(self, ref: MessageRef, text: str) -> MessageRef: ...


class LogProgress:
    """Progress for a resumed run whose terminal session is gone: logged, not posted."""

    def __init__(self, run: Run) -> None:
        self.run = run

    async def reply(self, text: str) -> MessageRef:
        log.info("%s %s: %s", self.run.kind, self.run.id, text, extra={"event": "run_report"})
        return MessageRef("log", self.run.id)

    async def update(self, ref: MessageRef, text: str) -> None:
        log.debug("%s %s: %s", self.run.kind, self.run.id, text)

    async def reply_in_thread(self, ref: MessageRef, text: str) -> MessageRef:
        return await self.reply(text)


def resumed_progress(
    services: Services, run: Run
) -> tuple[OutboxResponder | LogProgress, MessageRef]:
    """Where a resumed run reports: its original message (chat), or the log (shell)."""
    destination = str(run.reply_to.get("destination", ""))
    key = str(run.reply_to.get("message_key", ""))
    if not destination or destination.startswith("shell:") or not key:
        return LogProgress(run), MessageRef("log", run.id)
    return OutboxResponder(services.outbox, destination), MessageRef(destination, key)
