"""What the Aztec node client answers and raises, free of any HTTP library, so
commands can use them without importing the client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class NodeError(Exception):
    """The reference node did not give an answer; ``message`` says why, for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NodeUnavailable(NodeError):
    """The node could not be reached, did not answer in time, or answered garbage."""


class NodeRpcError(NodeError):
    """The node answered with a JSON-RPC error (``code`` and the node's ``reason``)."""

    def __init__(self, message: str, *, code: int, reason: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class L2Tips:
    """The node's chain tips (block numbers)."""

    latest: int
    proven: int
    finalized: int


class AztecNode(Protocol):
    """The calls of an Aztec node's public JSON-RPC API the bot makes."""

    url: str

    async def l2_tips(self) -> L2Tips:
        """The latest, proven and finalized block numbers."""
        ...

    async def archive_sibling_path(self, block: int, leaf: int) -> str:
        """The base64 sibling path of archive leaf ``leaf`` at block ``block``."""
        ...


class AztecNodes(Protocol):
    """Makes clients for nodes by URL (the composition root's HTTP session inside)."""

    def node(self, url: str, *, timeout: float) -> AztecNode:
        """A client for the node at ``url`` whose calls give up after ``timeout`` seconds."""
        ...
