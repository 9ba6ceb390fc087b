"""GitHub's answers as the bot sees them: frozen dataclasses, the two kinds of error,
the limits GitHub documents and the parsing of its replies. No SDK imports, so the
capabilities can use these types without importing the client."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

log = logging.getLogger("integrations.github")

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_REQUESTER = "testnet-bot"
CONTENT_CREATION_PER_MINUTE = 80
"""GitHub's secondary limit on content-creating requests per minute."""
CONTENT_CREATION_PER_HOUR = 500
"""GitHub's secondary limit on content-creating requests per hour."""
SECONDARY_LIMIT_WAIT = 60.0
"""Seconds to wait after a secondary rate limit that names no time (GitHub: at least a minute)."""
MAX_BODY_CHARS = 65536
"""The longest issue or comment body GitHub accepts."""

IssueState = Literal["open", "closed"]
StateReason = Literal["completed", "not_planned", "reopened", "duplicate"]


# ---------------------------------------------------------------- errors


class GitHubError(Exception):
    """Base class of every error this module raises."""


class GitHubRetryLater(GitHubError):
    """The request may succeed later: wait ``retry_after`` seconds (None: back off yourself)."""

    def __init__(
        self,
        retry_after: float | None,
        reason: str,
        *,
        status: int | None = None,
        maybe_applied: bool = True,
    ) -> None:
        self.retry_after = retry_after
        self.reason = reason
        self.status = status
        self.maybe_applied = maybe_applied
        wait = "" if retry_after is None else f"; retry after {retry_after:.0f}s"
        super().__init__(f"{reason}{wait}")


class GitHubPermanentError(GitHubError):
    """GitHub refused the request for a reason that retrying will not fix."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"{status} {message}")


def classify_http_error(
    status: int,
    headers: Mapping[str, str],
    message: str,
    *,
    now: Callable[[], float] = time.time,
) -> GitHubError:
    """Map a failed GitHub response to :class:`GitHubRetryLater` or :class:`GitHubPermanentError`.

    Follows GitHub's guidance: honour ``Retry-After``; when ``x-ratelimit-remaining`` is
    0, wait until ``x-ratelimit-reset``; after a secondary rate limit naming no time, wait
    :data:`SECONDARY_LIMIT_WAIT`. A 403 that is none of these (no permission) is permanent.
    5xx is retryable with ``retry_after`` None unless GitHub sent ``Retry-After``.
    ``retry_after`` is never negative.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    retry_after = _seconds(lowered.get("retry-after"))
    exhausted = lowered.get("x-ratelimit-remaining") == "0"
    reset = _seconds(lowered.get("x-ratelimit-reset"))
    text = message.lower()
    secondary = "secondary rate limit" in text or "abuse" in text
    if status >= 500:
        return GitHubRetryLater(retry_after, f"GitHub error {status}: {message}", status=status)
    if status in (403, 429) and (
        retry_after is not None or exhausted or secondary or status == 429
    ):
        if retry_after is not None:
            wait = retry_after
        elif exhausted and reset is not None:
            wait = max(reset - now(), 0.0)
        else:
            wait = SECONDARY_LIMIT_WAIT
        kind = "primary" if exhausted and not secondary else "secondary"
        return GitHubRetryLater(
            wait, f"{kind} rate limit ({status}): {message}", status=status, maybe_applied=False
        )
    return GitHubPermanentError(status, message)


def is_rate_limit(error: GitHubRetryLater) -> bool:
    """True for a rate-limit refusal (every request of the client should wait)."""
    return error.status in (403, 429)


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class Issue:
    """An issue as the bot needs it."""

    number: int
    title: str
    state: str
    labels: tuple[str, ...]
    html_url: str
    body: str
    state_reason: str | None = None


@dataclass(frozen=True)
class Comment:
    """A comment the bot posted."""

    id: int
    html_url: str


@dataclass(frozen=True)
class Ref:
    """A git reference (``refs/heads/main``) and the sha it points at."""

    ref: str
    sha: str


@dataclass(frozen=True)
class Commit:
    """A commit: its sha, message, parent shas and web page."""

    sha: str
    message: str
    parents: tuple[str, ...]
    html_url: str


@dataclass(frozen=True)
class WorkflowRun:
    """One GitHub Actions workflow run; ``conclusion`` is None until it completes."""

    id: int
    name: str
    head_branch: str
    head_sha: str
    run_number: int
    event: str
    status: str
    conclusion: str | None
    html_url: str
    created_at: str


class UnreadableReply(GitHubRetryLater):
    """GitHub answered 2xx with a body that is not the JSON object expected (or lacks
    the one field the bot needs): the request probably took effect."""

    def __init__(self, where: str, what: str) -> None:
        super().__init__(None, f"{where}: unreadable reply ({what})", maybe_applied=True)


def _lenient(data: Mapping[str, Any], name: str, default: Any, what: str) -> Any:
    """An optional field of a 2xx reply; a missing one is logged, not an error."""
    value = data.get(name)
    if value is None:
        if name not in data:
            log.warning(
                "GitHub's %s reply lacks %r; carrying on without it",
                what,
                name,
                extra={"event": "github_reply_field_missing", "field": name},
            )
        return default
    return value


def _issue(data: Mapping[str, Any]) -> Issue:
    try:
        number = int(data["number"])
    except (KeyError, TypeError, ValueError):
        raise UnreadableReply("GitHub issue", "no issue number") from None
    return Issue(
        number=number,
        title=str(_lenient(data, "title", "", "issue")),
        state=str(_lenient(data, "state", "open", "issue")),
        labels=tuple(
            str(label["name"]) if isinstance(label, dict) else str(label)
            for label in data.get("labels") or ()
        ),
        html_url=str(_lenient(data, "html_url", "", "issue")),
        body=str(data.get("body") or ""),
        state_reason=data.get("state_reason"),
    )


def _comment(data: Mapping[str, Any]) -> Comment:
    raw_id = _lenient(data, "id", 0, "comment")
    try:
        comment_id = int(raw_id)
    except (TypeError, ValueError):
        comment_id = 0
    return Comment(id=comment_id, html_url=str(_lenient(data, "html_url", "", "comment")))


def _run(data: Mapping[str, Any]) -> WorkflowRun:
    return WorkflowRun(
        id=int(data["id"]),
        name=str(data.get("name") or ""),
        head_branch=str(data.get("head_branch") or ""),
        head_sha=str(data["head_sha"]),
        run_number=int(data.get("run_number") or 0),
        event=str(data.get("event") or ""),
        status=str(data["status"]),
        conclusion=data.get("conclusion"),
        html_url=str(data["html_url"]),
        created_at=str(data.get("created_at") or ""),
    )


def marker_search_phrase(marker: str) -> str:
    """The words of ``marker`` as a phrase for GitHub search (HTML comment and quotes dropped)."""
    inner = marker.strip().removeprefix("<!--").removesuffix("-->")
    return inner.replace('"', " ").strip()


# ---------------------------------------------------------------- client
