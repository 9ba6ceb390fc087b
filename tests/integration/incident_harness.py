"""A running bot wired to the Slack fake and the GitHub fake, and a client that posts
Alertmanager webhooks to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from commands.incidents.desk import DESK, IncidentDesk
from tests.fakes.alert_payloads import body
from tests.fakes.github_api import FakeIssue, GitHubFake
from tests.fakes.slack_api import INCIDENTS, FakeMessage
from tests.integration.slack_harness import SlackBot, slack_bot

TOKEN = "am-token-for-tests"
GH_TOKEN = "ghp_test_token"
REPO = "aztec/testnet"


@dataclass
class IncidentBot:
    """The bot, both fakes, and helpers for the incident scenarios."""

    sb: SlackBot
    gh: GitHubFake

    @property
    def hook_url(self) -> str:
        return f"{self.sb.bot.url}/hooks/alertmanager"

    @property
    def desk(self) -> IncidentDesk:
        desk = self.sb.bot.services.need(DESK)
        assert isinstance(desk, IncidentDesk)
        return desk

    @property
    def store(self) -> Any:
        return self.sb.bot.services.store

    async def post(
        self, data: bytes, *, token: str | None = TOKEN, headers: Mapping[str, str] | None = None
    ) -> tuple[int, Any]:
        """POST a raw webhook body; return (status, decoded JSON answer)."""
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        async with self.sb.http.post(self.hook_url, data=data, headers=sent) as resp:
            return resp.status, await resp.json(content_type=None)

    async def fire(self, alerts: Sequence[Mapping[str, Any]]) -> Any:
        """POST a notification; assert it was stored; return the answer."""
        status, answer = await self.post(body(alerts))
        assert status == 200, answer
        return answer

    def issues(self) -> list[FakeIssue]:
        return [i for i in self.gh.issues.values() if not i.is_pull_request]

    def roots(self) -> list[FakeMessage]:
        return [m for m in self.sb.slack.messages(INCIDENTS) if m.thread_ts in (None, m.ts)]

    def thread(self, root: FakeMessage) -> list[str]:
        return [m.text for m in self.sb.slack.messages(INCIDENTS, thread_ts=root.ts)]

    async def delivered(self, timeout: float = 20.0) -> None:
        """Wait until the outbox has nothing pending."""
        assert await self.sb.bot.services.outbox.wait_delivered(timeout=timeout)

    def outbox_size(self) -> int:
        return int(self.store.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


@asynccontextmanager
async def incident_bot(
    tmp_path: Path, *, incidents: Mapping[str, Any] | None = None, **config: Any
) -> AsyncIterator[IncidentBot]:
    """The bot on a free port with Slack (fake), GitHub (fake) and the webhook enabled."""
    async with GitHubFake(token=GH_TOKEN, repo=REPO) as gh:
        settings: dict[str, Any] = {
            "github": {"repo": REPO, "token": GH_TOKEN, "api_url": gh.url},
            "alertmanager": {"bearer_token": TOKEN},
            "incidents": {"slack_channel": "incidents", **(incidents or {})},
            "slack": {"channels": {"incidents": INCIDENTS}},
            **config,
        }
        async with slack_bot(tmp_path, **settings) as sb:
            yield IncidentBot(sb, gh)
