"""Delivers the outbox's GitHub operations for incidents (destination ``github:<repo>``).

Items carry the incident id; the issue number comes from an :class:`IssueBook`
(the incident desk), because it is only known once ``create_issue`` succeeded. Items
of one destination are delivered in order, so a comment never overtakes the issue
it belongs to.

``create_issue`` is crash-safe: before calling GitHub the book durably notes the
attempt; if an attempt may have happened before (a timeout, a crash between "created"
and "recorded"), the issue is first looked for by its hidden marker, and only
created when none is found. Rate limits and 5xx become :class:`RetryLater` (never
before ``Retry-After``), other refusals :class:`PermanentFailure`.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from bot.outbox import DeliveryContext, PermanentFailure, RateLimit, RetryLater, Route
from integrations.github import GitHubClient, GitHubPermanentError, GitHubRetryLater
from state.records import OutboxItem

log = logging.getLogger("testnet_bot.github")


class IssueBook(Protocol):
    """Where incident issue numbers are kept."""

    def issue_number(self, incident_id: int) -> int | None:
        """The incident's issue number, once known."""
        ...

    def begin_create(self, incident_id: int) -> bool:
        """Durably note a create attempt; True if one may have happened before."""
        ...

    def created(self, incident_id: int, number: int, url: str) -> None:
        """Record the incident's issue."""
        ...


class GitHubIssueDelivery:
    """Sends ``create_issue``, ``comment``, ``add_labels``, ``remove_label``, ``close``
    and ``reopen`` items to GitHub."""

    def __init__(self, client: GitHubClient, book: IssueBook, *, fallback_label: str) -> None:
        self.client = client
        self.book = book
        self.fallback_label = fallback_label

    async def deliver(self, item: OutboxItem, context: DeliveryContext) -> dict[str, Any] | None:
        """Perform one operation; map GitHub's answers onto retry / permanent failure."""
        payload = item.payload
        incident = int(payload["incident"])
        try:
            if item.op == "create_issue":
                return await self._create(incident, payload)
            number = self.book.issue_number(incident)
            if number is None:
                raise PermanentFailure(f"incident {incident} has no GitHub issue (never created)")
            if item.op == "comment":
                await self.client.comment(number, payload["body"])
            elif item.op == "add_labels":
                await self.client.add_labels(number, payload["labels"])
            elif item.op == "remove_label":
                await self.client.remove_label(number, payload["label"])
            elif item.op == "close":
                await self.client.close_issue(number)
            elif item.op == "reopen":
                await self.client.reopen_issue(number)
            else:
                raise PermanentFailure(f"unknown GitHub operation {item.op!r}")
        except GitHubRetryLater as exc:
            raise RetryLater(exc.reason, exc.retry_after) from None
        except GitHubPermanentError as exc:
            raise PermanentFailure(str(exc)) from None
        return None

    async def _create(self, incident: int, payload: dict[str, Any]) -> dict[str, Any]:
        if self.book.issue_number(incident) is not None:
            return {"incident": incident, "number": self.book.issue_number(incident)}
        marker = str(payload["marker"])
        if self.book.begin_create(incident):
            found = await self.client.find_issue_by_marker(
                marker, fallback_label=self.fallback_label
            )
            if found is not None:
                log.info(
                    "incident %s: found issue #%s by its marker (an earlier attempt landed)",
                    incident,
                    found.number,
                    extra={"event": "github_issue_found", "incident": incident},
                )
                self.book.created(incident, found.number, found.html_url)
                return {"incident": incident, "number": found.number}
        issue = await self.client.create_issue(
            payload["title"], payload["body"], payload["labels"], payload.get("assignees", [])
        )
        self.book.created(incident, issue.number, issue.html_url)
        log.info(
            "incident %s: opened issue #%s",
            incident,
            issue.number,
            extra={"event": "github_issue_created", "incident": incident},
        )
        return {"incident": incident, "number": issue.number}


def github_route(
    client: GitHubClient, book: IssueBook, *, per_minute: int, per_hour: int, fallback_label: str
) -> Route:
    """The outbox route for ``github:*``: every write paced under GitHub's content limits."""
    return Route(
        GitHubIssueDelivery(client, book, fallback_label=fallback_label),
        limits=[RateLimit(per_minute, 60.0), RateLimit(per_hour, 3600.0)],
        per_destination=False,
    )
