"""Kubernetes clients for commands: one per kubeconfig context, opened on first use
and closed when the bot stops."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from bot.config import KubeConfig
from integrations.kube import KubeClient

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


class KubeAccess:
    """Hands out entered :class:`KubeClient` s, keyed by context."""

    def __init__(self, config: KubeConfig) -> None:
        self.config = config
        self._stack = AsyncExitStack()
        self._clients: dict[str | None, KubeClient] = {}
        self._in_cluster = config.kubeconfig is None and SERVICE_ACCOUNT_TOKEN.exists()

    async def client(self, context: str | None = None) -> KubeClient:
        """The client for ``context`` (default: the configured one), opening it once.

        With no ``kubernetes.kubeconfig`` the pod's service account is used when the
        bot runs in a cluster, else ``~/.kube/config``.
        """
        context = context or self.config.context
        if context not in self._clients:
            if self._in_cluster:
                client = KubeClient.in_cluster()
            else:
                client = KubeClient.from_kubeconfig(self.config.kubeconfig, context=context)
            self._clients[context] = await self._stack.enter_async_context(client)
        return self._clients[context]

    async def close(self) -> None:
        """Close every client opened."""
        await self._stack.aclose()
        self._clients.clear()
