"""GitHub behind a small typed wrapper: issues for incidents, refs/commits/runs for releases.

This is the only module that imports gidgethub. Callers get the project's frozen
dataclasses and two kinds of error, so a durable outbox knows what to do next:

- :class:`GitHubRetryLater` — rate limited (429, a 403 secondary or primary rate
  limit), GitHub broken (5xx), the network failed, the request timed out, or a 2xx
  reply could not be read. Retry, not before ``retry_after`` seconds when it is set,
  with your own backoff when not. ``maybe_applied`` says whether GitHub may have
  acted on the request anyway (then look before repeating a non-idempotent write).

A 2xx reply is success: fields the bot does not need that are missing from it are
logged, never a reason to repeat the request.
- :class:`GitHubPermanentError` — any other 4xx (bad credentials, not found,
  validation failed). Retrying the same request will not help.

Pacing content creation (issues, comments) is the caller's job; the limits GitHub
documents are exported as :data:`CONTENT_CREATION_PER_MINUTE` and
:data:`CONTENT_CREATION_PER_HOUR`. The token is never logged nor put in an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import gidgethub
import gidgethub.aiohttp
import gidgethub.sansio

from integrations.github_models import (
    DEFAULT_API_URL,
    DEFAULT_REQUESTER,
    Comment,
    Commit,
    GitHubError,
    GitHubPermanentError,
    GitHubRetryLater,
    Issue,
    IssueState,
    Ref,
    StateReason,
    UnreadableReply,
    WorkflowRun,
    _comment,
    _issue,
    _run,
    classify_http_error,
    marker_search_phrase,
)

log = logging.getLogger(__name__)



class GitHubClient:
    """Issues, labels, comments, refs, commits and workflow runs of one repository.

    ``session`` is owned by the caller. ``api_url`` is ``https://api.github.com`` or a
    GitHub Enterprise Server base such as ``https://ghe.example.com/api/v3``. Every
    call is bounded by ``request_timeout`` seconds and raises only :class:`GitHubError`
    subclasses for GitHub or network failures.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        repo: str,
        token: str,
        api_url: str = DEFAULT_API_URL,
        requester: str = DEFAULT_REQUESTER,
        request_timeout: float = 30.0,
    ) -> None:
        owner, sep, name = repo.partition("/")
        if not (owner and sep and name) or "/" in name:
            raise ValueError(f"repo must look like 'owner/name', got {repo!r}")
        if not token:
            raise ValueError("a GitHub token is required")
        self.repo = repo
        self.api_url = api_url.rstrip("/")
        self.request_timeout = request_timeout
        self._token = token
        self._api = gidgethub.aiohttp.GitHubAPI(
            session, requester, oauth_token=token, base_url=self.api_url
        )
        self._owner, self._name = owner, name

    def __repr__(self) -> str:
        return f"GitHubClient(repo={self.repo!r}, api_url={self.api_url!r}, token=***)"

    # ------------------------------------------------------------ issues

    async def create_issue(
        self,
        title: str,
        body: str,
        labels: Sequence[str] = (),
        assignees: Sequence[str] = (),
    ) -> Issue:
        """Create an issue and return it. Not idempotent: put a marker in ``body``."""
        data = {"title": title, "body": body, "labels": list(labels), "assignees": list(assignees)}
        return _issue(await self._call("POST", "/repos/{owner}/{repo}/issues", data=data))

    async def get_issue(self, number: int) -> Issue:
        """Return issue ``number``; GitHubPermanentError(404) if it does not exist."""
        url = "/repos/{owner}/{repo}/issues/{number}"
        return _issue(await self._call("GET", url, number=number))

    async def update_issue(
        self,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        state: IssueState | None = None,
        state_reason: StateReason | None = None,
    ) -> Issue:
        """Change the given fields of an issue (close or reopen with ``state``) and return it."""
        fields = {"title": title, "body": body, "state": state, "state_reason": state_reason}
        data = {k: v for k, v in fields.items() if v is not None}
        url = "/repos/{owner}/{repo}/issues/{number}"
        return _issue(await self._call("PATCH", url, data=data, number=number))

    async def close_issue(self, number: int, reason: StateReason = "completed") -> Issue:
        """Close an issue (a no-op on GitHub's side if it is already closed)."""
        return await self.update_issue(number, state="closed", state_reason=reason)

    async def reopen_issue(self, number: int) -> Issue:
        """Reopen an issue (a no-op on GitHub's side if it is already open)."""
        return await self.update_issue(number, state="open")

    async def add_labels(self, number: int, labels: Sequence[str]) -> tuple[str, ...]:
        """Add ``labels`` to an issue (idempotent) and return all its labels."""
        url = "/repos/{owner}/{repo}/issues/{number}/labels"
        data = await self._call(
            "POST", url, data={"labels": list(labels)}, number=number, expect=list
        )
        return tuple(
            str(label.get("name", "")) if isinstance(label, dict) else str(label) for label in data
        )

    async def remove_label(self, number: int, label: str) -> None:
        """Remove ``label`` from an issue; a label the issue does not have is not an error.

        A missing issue still raises GitHubPermanentError(404).
        """
        url = "/repos/{owner}/{repo}/issues/{number}/labels/{label}"
        try:
            await self._call("DELETE", url, number=number, label=label)
        except GitHubPermanentError as exc:
            if exc.status != 404 or "label does not exist" not in exc.message.lower():
                raise

    async def comment(self, number: int, body: str) -> Comment:
        """Post a comment on an issue and return it. Not idempotent."""
        url = "/repos/{owner}/{repo}/issues/{number}/comments"
        data = await self._call("POST", url, data={"body": body}, number=number)
        return _comment(data)

    async def find_comment(
        self, number: int, marker: str, *, since: str | None = None, scan_limit: int = 1000
    ) -> Comment | None:
        """The first comment on issue ``number`` whose body contains ``marker``, among
        those updated at or after ``since`` (ISO 8601; None: all); None if there is none."""
        url = "/repos/{owner}/{repo}/issues/{number}/comments{?since,per_page}"
        items = await self._list(url, limit=scan_limit, number=number, since=since, per_page=100)
        for item in items:
            if isinstance(item, dict) and marker in str(item.get("body") or ""):
                return _comment(item)
        return None

    async def find_issue_by_marker(
        self, marker: str, *, fallback_label: str | None = None, scan_limit: int = 300
    ) -> Issue | None:
        """Return the oldest issue (not pull request) whose body contains ``marker`` exactly.

        Asks the search API first. Search indexing lags on GitHub, so when it finds
        nothing and ``fallback_label`` is given, the newest ``scan_limit`` issues with that
        label (open or closed) are read too. None means neither saw such an issue.
        """
        if not marker_search_phrase(marker):
            raise ValueError(f"marker {marker!r} has no words to search for")
        found = await self._search_marker(marker)
        if found is None and fallback_label is not None:
            found = await self._scan_marker(marker, fallback_label, scan_limit)
        return found

    async def _search_marker(self, marker: str) -> Issue | None:
        query = f'"{marker_search_phrase(marker)}" repo:{self.repo} in:body is:issue'
        items = await self._list("/search/issues{?q,per_page}", limit=1000, q=query, per_page=100)
        return _oldest_with_marker(items, marker)

    async def _scan_marker(self, marker: str, label: str, scan_limit: int) -> Issue | None:
        url = "/repos/{owner}/{repo}/issues{?state,labels,sort,direction,per_page}"
        items = await self._list(
            url,
            limit=scan_limit,
            state="all",
            labels=label,
            sort="created",
            direction="desc",
            per_page=min(scan_limit, 100),
        )
        return _oldest_with_marker(items, marker)

    # ------------------------------------------------------------ releases

    async def get_ref(self, ref: str) -> Ref | None:
        """Return ``ref`` (``heads/main``, ``tags/v1`` or ``refs/...``), None if it is absent."""
        url = "/repos/{owner}/{repo}/git/ref/{+ref}"
        try:
            data = await self._call("GET", url, ref=ref.removeprefix("refs/"))
        except GitHubPermanentError as exc:
            if exc.status == 404:
                return None
            raise
        return Ref(ref=str(data["ref"]), sha=str(data["object"]["sha"]))

    async def create_ref(self, ref: str, sha: str) -> Ref:
        """Create ``ref`` (``refs/heads/release/v1`` or ``heads/...``) pointing at ``sha``.

        GitHubPermanentError(422) if it already exists or ``sha`` is unknown.
        """
        full = ref if ref.startswith("refs/") else f"refs/{ref}"
        data = await self._call(
            "POST", "/repos/{owner}/{repo}/git/refs", data={"ref": full, "sha": sha}
        )
        return Ref(ref=str(data["ref"]), sha=str(data["object"]["sha"]))

    async def get_commit(self, ref: str) -> Commit:
        """Return the commit a sha, branch or tag names; GitHubPermanentError(422) if none."""
        data = await self._call("GET", "/repos/{owner}/{repo}/commits/{+ref}", ref=ref)
        return Commit(
            sha=str(data["sha"]),
            message=str(data["commit"]["message"]),
            parents=tuple(str(p["sha"]) for p in data.get("parents") or ()),
            html_url=str(data["html_url"]),
        )

    async def list_workflow_runs(
        self, *, branch: str | None = None, workflow: str | int | None = None, limit: int = 30
    ) -> list[WorkflowRun]:
        """The newest ``limit`` workflow runs, optionally of one ``branch`` and ``workflow``.

        ``workflow`` is a workflow file name (``release.yml``) or its numeric id.
        """
        if workflow is None:
            url = "/repos/{owner}/{repo}/actions/runs{?branch,per_page}"
        else:
            url = "/repos/{owner}/{repo}/actions/workflows/{workflow}/runs{?branch,per_page}"
        items = await self._list(
            url,
            limit=limit,
            iterable_key="workflow_runs",
            workflow=workflow,
            branch=branch,
            per_page=min(max(limit, 1), 100),
        )
        return [_run(item) for item in items]

    # ------------------------------------------------------------ transport

    def _vars(self, url_vars: Mapping[str, Any]) -> dict[str, Any]:
        present = {k: v for k, v in url_vars.items() if v is not None}
        return {"owner": self._owner, "repo": self._name, **present}

    async def _call(
        self,
        method: str,
        url: str,
        *,
        data: Any = None,
        expect: type[Any] = dict,
        **url_vars: Any,
    ) -> Any:
        """One request; GitHub, network and timeout failures become GitHubError, and a
        2xx whose body is not the JSON ``expect`` (object or array) :class:`UnreadableReply`."""
        variables = self._vars(url_vars)
        try:
            async with asyncio.timeout(self.request_timeout):
                if method == "GET":
                    reply = await self._api.getitem(url, variables)
                elif method == "POST":
                    reply = await self._api.post(url, variables, data=data)
                elif method == "PATCH":
                    reply = await self._api.patch(url, variables, data=data)
                else:
                    await self._api.delete(url, variables)
                    return None
        except _TRANSIENT_OR_HTTP as exc:
            raise self._translate(exc, method, url, variables) from None
        except ValueError as exc:  # gidgethub could not decode a 2xx body
            raise self._unreadable(method, url, variables, type(exc).__name__) from None
        if not isinstance(reply, expect):
            raise self._unreadable(method, url, variables, f"not a JSON {expect.__name__}")
        return reply

    def _unreadable(
        self, method: str, url: str, variables: Mapping[str, Any], what: str
    ) -> UnreadableReply:
        full = gidgethub.sansio.format_url(url, variables, base_url=self.api_url)
        error = UnreadableReply(f"GitHub {method} {urllib.parse.urlsplit(full).path}", what)
        log.warning("%s", error, extra={"event": "github_unreadable_reply"})
        return error

    async def _list(
        self, url: str, *, limit: int, iterable_key: str = "items", **url_vars: Any
    ) -> list[Any]:
        """Up to ``limit`` items of a paginated listing, following ``Link: rel="next"``."""
        variables = self._vars(url_vars)
        items: list[Any] = []
        pages = self._api.getiter(url, variables, iterable_key=iterable_key)
        async with contextlib.aclosing(pages):
            while len(items) < limit:
                try:
                    async with asyncio.timeout(self.request_timeout):
                        items.append(await anext(pages))
                except StopAsyncIteration:
                    break
                except (*_TRANSIENT_OR_HTTP, ValueError) as exc:
                    raise self._translate(exc, "GET", url, variables) from None
        return items

    def _translate(
        self, exc: Exception, method: str, url: str, variables: Mapping[str, Any]
    ) -> GitHubError:
        full = gidgethub.sansio.format_url(url, variables, base_url=self.api_url)
        where = f"GitHub {method} {urllib.parse.urlsplit(full).path}"
        error: GitHubError
        if isinstance(exc, gidgethub.HTTPException):
            message = str(exc)
            if message in ("", "None"):
                message = exc.status_code.phrase
            text = self._scrub(f"{where}: {message}")
            error = classify_http_error(int(exc.status_code), exc.headers, text)
        elif isinstance(exc, ValueError):
            error = UnreadableReply(where, type(exc).__name__)
        elif isinstance(exc, TimeoutError):
            error = GitHubRetryLater(None, f"{where}: no answer within {self.request_timeout}s")
        else:
            error = GitHubRetryLater(None, self._scrub(f"{where}: {type(exc).__name__}: {exc}"))
        log.debug("%s", error)
        return error

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***")


_TRANSIENT_OR_HTTP = (gidgethub.HTTPException, TimeoutError, aiohttp.ClientError)


def _oldest_with_marker(items: Sequence[Mapping[str, Any]], marker: str) -> Issue | None:
    """The lowest-numbered issue (never a pull request) whose body contains ``marker``."""
    matches = [
        _issue(item)
        for item in items
        if "pull_request" not in item and marker in (item.get("body") or "")
    ]
    return min(matches, key=lambda issue: issue.number, default=None)
