"""Delivers the outbox's GitHub operations for incidents (destination ``github:<repo>``).

Items carry the incident id; the issue number comes from an :class:`IssueBook`
(the incident desk), because it is only known once ``create_issue`` succeeded. The
desk queues each incident's items in a lane of their own, so they are delivered in
order (a comment never overtakes the issue it belongs to) while other incidents'
items go on when one keeps failing.

Every write happens once on GitHub, whatever fails in between:

- ``create_issue`` and ``comment`` are not idempotent, so each carries a hidden marker
  (an HTML comment in its body). When an earlier attempt may have landed (a timeout,
  a broken connection, a crash between the request and recording its answer, a 2xx
  that could not be read) the marker is looked up first (the issue by search and by
  its label, the comment among the issue's comments) and the write is sent only if
  it is not found.
- Labels, close and reopen are idempotent on GitHub; after an uncertain attempt the
  issue is read first and nothing is sent if it already shows the change.

A 2xx is success. Rate limits pause the whole route (never before ``Retry-After``)
and are known not to have been applied; 5xx and network failures are retried; other
refusals are :class:`PermanentFailure`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from bot.outbox import DeliveryContext, PermanentFailure, RateLimit, RetryLater, Route
from integrations.github_models import (
    MAX_BODY_CHARS,
    GitHubPermanentError,
    GitHubRetryLater,
    is_rate_limit,
)
from state.records import OutboxItem

if TYPE_CHECKING:
    from integrations.github import GitHubClient

log = logging.getLogger("testnet_bot.github")
LOOKBACK = 600.0
"""Seconds before an item was queued from which its comment is looked for (clock skew)."""
WINDOW_MARGIN = 1.0
"""Seconds added to each pacing window: a send timed to the window's edge must not
land inside GitHub's window through network jitter."""
MAX_IN_FLIGHT = 1
"""GitHub's REST best practices: make requests serially, not concurrently, to stay
clear of secondary rate limits. Lanes still keep issues independent: an item that
backs off frees the route for the others."""


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


def comment_marker(item: OutboxItem) -> str:
    """The hidden marker that identifies the comment an outbox item posts."""
    return f"<!-- testnet-bot:comment:{item.payload['incident']}:{item.id} -->"


class GitHubIssueDelivery:
    """Sends ``create_issue``, ``comment``, ``add_labels``, ``remove_label``, ``close``
    and ``reopen`` items to GitHub, each exactly once."""

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
                await self._comment(item, number)
            elif item.op in ("add_labels", "remove_label", "close", "reopen"):
                await self._idempotent(item, number)
            else:
                raise PermanentFailure(f"unknown GitHub operation {item.op!r}")
        except GitHubRetryLater as exc:
            raise RetryLater(
                exc.reason,
                exc.retry_after,
                maybe_sent=None if exc.maybe_applied else False,
                pause_route=is_rate_limit(exc),
            ) from None
        except GitHubPermanentError as exc:
            raise PermanentFailure(str(exc)) from None
        return None

    async def _comment(self, item: OutboxItem, number: int) -> None:
        marker = comment_marker(item)
        if item.maybe_sent:
            since = datetime.fromtimestamp(item.created_at - LOOKBACK, UTC)
            found = await self.client.find_comment(
                number, marker, since=since.strftime("%Y-%m-%dT%H:%M:%SZ")
            )
            if found is not None:
                log.info(
                    "issue #%s: comment of item %s found by its marker (an earlier attempt landed)",
                    number,
                    item.id,
                    extra={"event": "github_comment_found", "item": item.id},
                )
                return
        body = str(item.payload["body"])
        room = MAX_BODY_CHARS - len(marker) - 2
        await self.client.comment(number, f"{body[:room]}\n\n{marker}")

    async def _idempotent(self, item: OutboxItem, number: int) -> None:
        payload = item.payload
        if item.maybe_sent and await self._already_applied(item, number):
            log.info(
                "issue #%s: %s already applied by an earlier attempt",
                number,
                item.op,
                extra={"event": "github_write_found", "item": item.id},
            )
            return
        if item.op == "add_labels":
            await self.client.add_labels(number, payload["labels"])
        elif item.op == "remove_label":
            await self.client.remove_label(number, payload["label"])
        elif item.op == "close":
            await self.client.close_issue(number)
        else:
            await self.client.reopen_issue(number)

    async def _already_applied(self, item: OutboxItem, number: int) -> bool:
        issue = await self.client.get_issue(number)
        if item.op == "add_labels":
            return set(item.payload["labels"]) <= set(issue.labels)
        if item.op == "remove_label":
            return item.payload["label"] not in issue.labels
        if item.op == "close":
            return issue.state == "closed"
        return issue.state == "open"

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
    """The outbox route for ``github:*``: every write paced under GitHub's content limits,
    the pacing kept in SQLite so a restart does not burst past them."""
    return Route(
        GitHubIssueDelivery(client, book, fallback_label=fallback_label),
        limits=[
            RateLimit(per_minute, 60.0 + WINDOW_MARGIN),
            RateLimit(per_hour, 3600.0 + WINDOW_MARGIN),
        ],
        per_destination=False,
        durable_pacing=True,
        max_in_flight=MAX_IN_FLIGHT,
    )
