"""Kubernetes clients for commands: one per kubeconfig context, opened on first use
and closed when the bot stops. The one place that turns "cannot reach Kubernetes
at all" into a message saying what is missing and how to configure it."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from bot.config import KubeConfig
from bot.errors import CommandError
from integrations.kube import KubeClient, KubeError, default_kubeconfig_paths

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
HOW_TO_CONFIGURE = (
    "Set `kubernetes.kubeconfig` (and `kubernetes.context`) in the config, point "
    "KUBECONFIG at a kubeconfig file, or run the bot in a cluster with a service account."
)


class KubeNotConfigured(CommandError):
    """The bot has no usable way to reach Kubernetes; the message says what is missing
    and how to configure it."""


def shown_path(path: str | Path) -> str:
    """``path`` as a user would type it: the home directory written ``~``."""
    text = str(path)
    home = str(Path.home())
    if home not in ("", "/") and (text == home or text.startswith(home + "/")):
        return "~" + text[len(home) :]
    return text


class KubeAccess:
    """Hands out entered :class:`KubeClient` s, keyed by context."""

    def __init__(self, config: KubeConfig, *, service_account: Path = SERVICE_ACCOUNT_TOKEN):
        self.config = config
        self._stack = AsyncExitStack()
        self._clients: dict[str | None, KubeClient] = {}
        self._in_cluster = config.kubeconfig is None and service_account.exists()

    def _kubeconfig(self) -> str | None:
        """The kubeconfig to load (None: the library's default list), or
        :class:`KubeNotConfigured` when no such file exists."""
        if self.config.kubeconfig is not None:
            path = self.config.kubeconfig.expanduser()
            if not path.is_file():
                raise KubeNotConfigured(
                    f"Kubernetes is not configured: no kubeconfig at {shown_path(path)} "
                    f"(`kubernetes.kubeconfig`). {HOW_TO_CONFIGURE}"
                )
            return str(path)
        candidates = default_kubeconfig_paths()
        if not any(Path(p).is_file() for p in candidates):
            where = " or ".join(shown_path(p) for p in candidates) or "~/.kube/config"
            raise KubeNotConfigured(
                f"Kubernetes is not configured: no kubeconfig at {where}. {HOW_TO_CONFIGURE}"
            )
        return candidates[0] if len(candidates) == 1 else None

    async def client(self, context: str | None = None) -> KubeClient:
        """The client for ``context`` (default: the configured one), opening it once.

        With no ``kubernetes.kubeconfig`` the pod's service account is used when the
        bot runs in a cluster, else ``$KUBECONFIG`` or ``~/.kube/config``. Raises
        :class:`KubeNotConfigured` (nothing is cached, so a fixed kubeconfig is picked
        up by the next command) when there is no kubeconfig or it cannot be used.
        """
        context = context or self.config.context
        if context not in self._clients:
            if self._in_cluster:
                client = KubeClient.in_cluster()
            else:
                client = KubeClient.from_kubeconfig(self._kubeconfig(), context=context)
            try:
                entered = await self._stack.enter_async_context(client)
            except KubeError as exc:
                raise KubeNotConfigured(_unusable(client.description, context, exc)) from None
            self._clients[context] = entered
        return self._clients[context]

    async def close(self) -> None:
        """Close every client opened."""
        await self._stack.aclose()
        self._clients.clear()


def _unusable(description: str, context: str | None, exc: KubeError) -> str:
    """What to tell the user when a kubeconfig exists but cannot be loaded."""
    detail = str(exc)
    where = shown_path(description)
    if "current-context" in detail:
        return (
            f"Kubernetes is not configured: the {where} names no current context. "
            "Set `kubernetes.context` in the config, or run `kubectl config use-context NAME`."
        )
    if context and context in detail:
        return (
            f"Kubernetes is not configured: the {where} has no context `{context}` "
            "(`kubernetes.context` or the network's `kube_context`); "
            "`kubectl config get-contexts` lists them."
        )
    return f"Kubernetes is not usable: {detail}. {HOW_TO_CONFIGURE}"
