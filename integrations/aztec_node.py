"""A small JSON-RPC 2.0 client for an Aztec node's public API (``node_getL2Tips``,
``node_getArchiveSiblingPath``), over the bot's one aiohttp session.

Every call is bounded by a timeout. A node that refuses the connection, is slow, or
answers something that is not JSON-RPC raises :class:`NodeUnavailable`; a JSON-RPC
error raises :class:`NodeRpcError` with the node's code and message (the node answers
them with HTTP 400, so the body is read whatever the status).
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import aiohttp

from integrations.aztec_models import L2Tips, NodeRpcError, NodeUnavailable

_ids = itertools.count(1)


class AztecNodeClient:
    """One node's JSON-RPC endpoint."""

    def __init__(self, session: aiohttp.ClientSession, url: str, *, timeout: float) -> None:
        self._session = session
        self.url = url.rstrip("/")
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"AztecNodeClient({self.url!r})"

    async def call(self, method: str, params: list[Any]) -> Any:
        """Call ``method`` and return its ``result``."""
        request = {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": params}
        try:
            async with self._session.post(
                self.url + "/",
                json=request,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                status = response.status
                raw = await response.read()
        except TimeoutError:
            raise NodeUnavailable(
                f"the node at {self.url} did not answer within {self.timeout:g}s"
            ) from None
        except aiohttp.ClientError as exc:
            raise NodeUnavailable(
                f"cannot reach the node at {self.url}: {exc or type(exc).__name__}"
            ) from None
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            snippet = raw[:120].decode("utf-8", errors="replace").strip()
            raise NodeUnavailable(
                f"the node at {self.url} answered HTTP {status} without JSON-RPC: {snippet!r}"
            )
        error = body.get("error")
        if isinstance(error, dict):
            reason = str(error.get("message") or "no message")
            code = error.get("code")
            raise NodeRpcError(
                f"the node refused {method}: {reason}",
                code=code if isinstance(code, int) else 0,
                reason=reason,
            )
        if "result" not in body:
            raise NodeUnavailable(f"the node at {self.url} answered HTTP {status} with no result")
        return body["result"]

    async def l2_tips(self) -> L2Tips:
        """The latest, proven and finalized block numbers."""
        result = await self.call("node_getL2Tips", [])
        try:
            return L2Tips(
                latest=int(result["latest"]["number"]),
                proven=int(result["proven"]["number"]),
                finalized=int(result["finalized"]["number"]),
            )
        except (KeyError, TypeError, ValueError):
            raise NodeUnavailable(
                f"the node at {self.url} answered node_getL2Tips with an unexpected shape"
            ) from None

    async def archive_sibling_path(self, block: int, leaf: int) -> str:
        """The base64 sibling path of archive leaf ``leaf`` at block ``block`` (the
        numbers are sent as decimal strings, as the usual ``curl`` one-liner does)."""
        result = await self.call("node_getArchiveSiblingPath", [str(block), str(leaf)])
        if not isinstance(result, str):
            raise NodeUnavailable(
                f"the node at {self.url} answered node_getArchiveSiblingPath with no path"
            )
        return result


class AztecNodeAccess:
    """Makes :class:`AztecNodeClient`s on the composition root's session."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    def node(self, url: str, *, timeout: float) -> AztecNodeClient:
        """A client for the node at ``url``."""
        return AztecNodeClient(self._session, url, timeout=timeout)
