"""An HTTP-level fake of the parts of GitHub's REST API the bot uses.

It serves the real paths, JSON shapes, status codes and headers (``x-ratelimit-*``,
``Retry-After``, ``Link`` pagination) on 127.0.0.1, so the real gidgethub client runs
against it unchanged::

    async with GitHubFake(token="t", repo="o/r") as gh:
        client = GitHubClient(session, repo="o/r", token="t", api_url=gh.url)
        ...
        assert gh.issues[1].state == "closed"
        assert gh.count("POST", "/repos/o/r/issues") == 1

Covered: issues (create, get, patch, list with ``state``/``labels`` filters; numbers
are shared with pull requests), issue comments, labels on issues, issue search (quoted
phrases matched word by word like GitHub's tokenised search, the ``repo:``, ``in:`` and
``is:`` qualifiers, and a configurable indexing lag), git refs, commits and Actions
workflow runs. Every request needs ``Authorization: token X`` or ``Bearer X`` with the
configured token and a ``User-Agent``.

Faults are queued with :meth:`GitHubFake.inject` and apply to the next matching
requests: :func:`secondary_rate_limit`, :func:`too_many_requests`,
:func:`primary_rate_limit`, :func:`server_error`, :func:`slow`, and three that serve
the request (the write takes effect) but spoil the answer: :func:`hold` (never
answers; :attr:`GitHubFake.held` lists such requests, so a test can kill the client
once GitHub has acted), :func:`omit_fields` (a 2xx lacking fields) and
:func:`garbled_reply` (a 2xx whose body is not JSON). Request bodies are checked as
GitHub's REST reference describes them: required fields, types, closed value sets
(a wrong type is 422 "Invalid request", a missing or invalid value 422 "Validation
Failed"). Every request is
logged in :attr:`GitHubFake.requests` with the monotonic time it arrived.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_FAULT_KEY = web.RequestKey("fault", str)  # "" when no fault applied

DOCS = "https://docs.github.com/rest"
MAX_BODY_CHARS = 65536
SECONDARY_RATE_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
    "again. If you reach out to GitHub Support for help, please include the request ID "
    "C0DE:F00D:1234567:89ABCDE:6740A1B2."
)
PRIMARY_RATE_LIMIT_MESSAGE = (
    "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, "
    "please include the request ID C0DE:F00D:1234567:89ABCDE:6740A1B2."
)
UNICORN_PAGE = "<!DOCTYPE html><html><head><title>Unicorn! · GitHub</title></head></html>"
STATE_REASONS = {"completed", "not_planned", "reopened", "duplicate"}
RUN_STATUSES = {"queued", "in_progress", "completed", "waiting", "requested", "pending"}


# ---------------------------------------------------------------- faults and request log


@dataclass(frozen=True)
class Fault:
    """What the fake does instead of (or before) serving one request.

    ``status=None`` means "serve the request normally after ``delay`` seconds".
    ``reset_in`` sets ``x-ratelimit-remaining: 0`` and ``x-ratelimit-reset`` to that
    many seconds after the response is sent.
    """

    name: str
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    json_body: Any = None
    text_body: str | None = None
    delay: float = 0.0
    reset_in: float | None = None
    hold: bool = False
    omit: tuple[str, ...] = ()
    garble: bool = False


def secondary_rate_limit(retry_after: int | None = 60) -> Fault:
    """GitHub's 403 for a secondary (content-creation, concurrency) rate limit."""
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    body = {
        "message": SECONDARY_RATE_LIMIT_MESSAGE,
        "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api"
        "#about-secondary-rate-limits",
    }
    return Fault("secondary_rate_limit", status=403, headers=headers, json_body=body)


def too_many_requests(retry_after: int | None = 60) -> Fault:
    """A 429 with the secondary-rate-limit message and an optional ``Retry-After``."""
    fault = secondary_rate_limit(retry_after)
    return Fault("too_many_requests", status=429, headers=fault.headers, json_body=fault.json_body)


def primary_rate_limit(reset_in: float = 600.0) -> Fault:
    """GitHub's 403 for an exhausted hourly quota: remaining 0, reset ``reset_in`` s away."""
    body = {
        "message": PRIMARY_RATE_LIMIT_MESSAGE,
        "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api",
    }
    return Fault("primary_rate_limit", status=403, json_body=body, reset_in=reset_in)


def server_error(status: int = 502) -> Fault:
    """A 5xx as GitHub's edge sends it: an HTML page, not JSON."""
    return Fault(f"server_error_{status}", status=status, text_body=UNICORN_PAGE)


def slow(delay: float) -> Fault:
    """Serve the request normally, but only after ``delay`` seconds."""
    return Fault("slow", delay=delay)


def hold() -> Fault:
    """Serve the request (its write takes effect) and never send the answer."""
    return Fault("hold", hold=True)


def omit_fields(*names: str) -> Fault:
    """Serve the request, then drop ``names`` from the JSON object answered."""
    return Fault("omit_fields", omit=names)


def garbled_reply() -> Fault:
    """Serve the request, then answer its 2xx status with a cut-off JSON body."""
    return Fault("garbled_reply", garble=True)


@dataclass
class _FaultRule:
    fault: Fault
    remaining: int
    method: str | None
    path: str | None

    def matches(self, method: str, path: str) -> bool:
        if self.remaining <= 0:
            return False
        if self.method is not None and self.method != method:
            return False
        return self.path is None or path.startswith(self.path)


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the fake saw it; ``path`` is relative to the API base."""

    method: str
    path: str
    query: Mapping[str, str]
    received_at: float  # time.monotonic()
    status: int
    fault: str | None


# ---------------------------------------------------------------- repository state


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FakeComment:
    """A comment on an issue."""

    id: int
    body: str
    created_at: str


@dataclass
class FakeIssue:
    """An issue (or, with ``is_pull_request``, a pull request) as the fake stores it."""

    number: int
    title: str
    body: str | None
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    state: str = "open"
    state_reason: str | None = None
    is_pull_request: bool = False
    comments: list[FakeComment] = field(default_factory=list)
    created_at: str = field(default_factory=_now_iso)
    updated_at: str = field(default_factory=_now_iso)
    closed_at: str | None = None
    indexed_from: float = 0.0  # monotonic time from which search sees it
    events: list[str] = field(default_factory=list)
    """What changed, as GitHub's issue events name it: ``closed``, ``reopened``,
    ``labeled:<name>``, ``unlabeled:<name>`` (a no-op change records nothing)."""


@dataclass
class FakeCommit:
    """A commit object: its sha, message and parent shas."""

    sha: str
    message: str
    parents: list[str] = field(default_factory=list)
    date: str = field(default_factory=_now_iso)


@dataclass
class FakeWorkflowRun:
    """An Actions workflow run; tests change ``status``/``conclusion`` as it progresses."""

    id: int
    workflow_id: int
    workflow_path: str
    name: str
    head_branch: str
    head_sha: str
    run_number: int
    event: str = "push"
    status: str = "queued"
    conclusion: str | None = None
    created_at: str = field(default_factory=_now_iso)


# ---------------------------------------------------------------- the fake server


class GitHubFake:
    """An aiohttp server on 127.0.0.1 that behaves like GitHub's REST API for one repo.

    Use it as an async context manager; :attr:`url` is the API base to hand to the
    client (with ``prefix``, e.g. ``"/api/v3"``, it looks like GitHub Enterprise Server).
    """

    def __init__(
        self,
        *,
        token: str,
        repo: str = "o/r",
        prefix: str = "",
        html_url: str = "https://github.com",
        search_lag: float = 0.0,
        assignable: set[str] | None = None,
    ) -> None:
        self.token = token
        self.repo = repo
        self.prefix = prefix.rstrip("/")
        self.html_url = html_url.rstrip("/")
        self.search_lag = search_lag
        self.assignable = assignable
        self.issues: dict[int, FakeIssue] = {}
        self.commits: dict[str, FakeCommit] = {}
        self.refs: dict[str, str] = {}
        self.workflows: dict[str, int] = {}
        self.workflow_runs: dict[int, FakeWorkflowRun] = {}
        self.requests: list[LoggedRequest] = []
        self.held: list[tuple[str, str]] = []
        """(method, path) of requests served but never answered (:func:`hold`)."""
        self._faults: list[_FaultRule] = []
        self._ids = itertools.count(1_000_001)
        self._rate_remaining = 5000
        self._closing = asyncio.Event()
        self._served = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> GitHubFake:
        middlewares = [self._log_mw, self._auth_mw, self._fault_mw, _reject_mw]
        app = web.Application(middlewares=middlewares)
        self._add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}{self.prefix}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------ test controls

    def inject(
        self, fault: Fault, *, times: int = 1, method: str | None = None, path: str | None = None
    ) -> None:
        """Apply ``fault`` to the next ``times`` requests matching ``method`` and ``path``.

        ``path`` is a prefix of the path relative to the API base, e.g. ``/repos/o/r/issues``.
        Rules are consulted in the order they were injected.
        """
        self._faults.append(_FaultRule(fault, times, method, path))

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """How many logged requests match ``method`` and start with ``path``."""
        return len(self.matching(method, path))

    def matching(self, method: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        """The logged requests matching ``method`` and starting with ``path``, in order."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and (path is None or r.path.startswith(path))
        ]

    async def wait_until(self, condition: Callable[[], bool], *, within: float = 5.0) -> None:
        """Return once ``condition()`` holds, checking after every request the fake finishes.

        Raises TimeoutError if it does not hold within ``within`` seconds.
        """
        async with asyncio.timeout(within), self._served:
            await self._served.wait_for(condition)

    def add_issue(
        self, title: str, body: str | None = None, labels: list[str] | None = None
    ) -> FakeIssue:
        """Store an issue directly (as if created by someone else)."""
        return self._new_issue(title, body, labels or [], [], is_pull_request=False)

    def add_pull_request(self, title: str) -> FakeIssue:
        """Store a pull request: it takes the next issue number and shows in issue lists."""
        return self._new_issue(title, "", [], [], is_pull_request=True)

    def add_commit(self, message: str, parents: list[str] | None = None) -> str:
        """Store a commit and return its sha."""
        seed = f"{message}\0{parents}\0{len(self.commits)}".encode()
        sha = hashlib.sha1(seed, usedforsecurity=False).hexdigest()
        self.commits[sha] = FakeCommit(sha, message, list(parents or []))
        return sha

    def set_ref(self, ref: str, sha: str) -> None:
        """Point ``ref`` (``refs/heads/main``, ``refs/tags/v1``) at ``sha``."""
        self.refs[ref] = sha

    def add_workflow_run(
        self,
        *,
        workflow: str,
        branch: str,
        head_sha: str,
        status: str = "queued",
        conclusion: str | None = None,
        event: str = "push",
    ) -> FakeWorkflowRun:
        """Store a run of ``workflow`` (a file name like ``release.yml``) and return it."""
        workflow_id = self.workflows.setdefault(workflow, 7_000 + len(self.workflows))
        run_number = 1 + sum(1 for r in self.workflow_runs.values() if r.workflow_id == workflow_id)
        run = FakeWorkflowRun(
            id=next(self._ids),
            workflow_id=workflow_id,
            workflow_path=f".github/workflows/{workflow}",
            name=workflow.rsplit(".", 1)[0],
            head_branch=branch,
            head_sha=head_sha,
            run_number=run_number,
            event=event,
            status=status,
            conclusion=conclusion,
        )
        self.workflow_runs[run.id] = run
        return run

    # ------------------------------------------------------------ middleware

    def _relative(self, request: web.Request) -> str:
        path = request.rel_url.raw_path
        return path[len(self.prefix) :] if path.startswith(self.prefix) else path

    @web.middleware
    async def _log_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        received_at = time.monotonic()
        request[_FAULT_KEY] = ""
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = exc
        self.requests.append(
            LoggedRequest(
                method=request.method,
                path=self._relative(request),
                query=dict(request.query),
                received_at=received_at,
                status=response.status,
                fault=request[_FAULT_KEY] or None,
            )
        )
        async with self._served:
            self._served.notify_all()
        if isinstance(response, web.HTTPException):
            raise response
        return response

    @web.middleware
    async def _auth_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.headers.get("User-Agent"):
            return _error(
                403,
                "Request forbidden by administrative rules. "
                "Please make sure your request has a User-Agent header.",
            )
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        if not credential:
            return _error(401, "Requires authentication")
        if scheme.lower() not in {"token", "bearer"} or credential.strip() != self.token:
            return _error(401, "Bad credentials")
        return await handler(request)

    @web.middleware
    async def _fault_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = self._relative(request)
        rule = next((r for r in self._faults if r.matches(request.method, path)), None)
        if rule is None:
            return self._with_rate_headers(await handler(request))
        rule.remaining -= 1
        fault = rule.fault
        request[_FAULT_KEY] = fault.name
        if fault.delay:
            await request.read()  # a real server has the body before it is slow to answer
            try:
                await asyncio.wait_for(self._closing.wait(), fault.delay)
            except TimeoutError:
                pass
            else:
                return _error(503, "fake shutting down")
        if fault.hold:
            await handler(request)
            self.held.append((request.method, path))
            async with self._served:
                self._served.notify_all()
            await self._closing.wait()
            return _error(503, "fake shutting down")
        if fault.omit or fault.garble:
            served = await handler(request)
            assert isinstance(served, web.Response) and served.body is not None
            if fault.garble:
                body = bytes(served.body)[: max(len(bytes(served.body)) // 2, 1)]
            else:
                data = json.loads(bytes(served.body))
                for name in fault.omit:
                    data.pop(name, None)
                body = json.dumps(data).encode()
            spoiled = web.Response(
                status=served.status, body=body, content_type="application/json", charset="utf-8"
            )
            return self._with_rate_headers(spoiled)
        if fault.status is None:
            return self._with_rate_headers(await handler(request))
        if fault.text_body is not None:
            response: web.Response = web.Response(
                status=fault.status, text=fault.text_body, content_type="text/html"
            )
        else:
            response = _json(fault.json_body, status=fault.status)
        if fault.reset_in is not None:
            response.headers["x-ratelimit-limit"] = "5000"
            response.headers["x-ratelimit-remaining"] = "0"
            response.headers["x-ratelimit-used"] = "5000"
            response.headers["x-ratelimit-reset"] = str(math.ceil(time.time() + fault.reset_in))
            response.headers["x-ratelimit-resource"] = "core"
        else:
            self._with_rate_headers(response)
        response.headers.update(fault.headers)
        return response

    def _with_rate_headers(self, response: web.StreamResponse) -> web.StreamResponse:
        self._rate_remaining = max(self._rate_remaining - 1, 1)
        response.headers.setdefault("x-ratelimit-limit", "5000")
        response.headers.setdefault("x-ratelimit-remaining", str(self._rate_remaining))
        response.headers.setdefault("x-ratelimit-used", str(5000 - self._rate_remaining))
        response.headers.setdefault("x-ratelimit-reset", str(int(time.time()) + 3600))
        response.headers.setdefault("x-ratelimit-resource", "core")
        return response

    # ------------------------------------------------------------ routes

    def _add_routes(self, app: web.Application) -> None:
        p = self.prefix
        repo = "/repos/{owner}/{repo}"
        r = app.router
        r.add_get(p + "/search/issues", self._search_issues)
        r.add_get(p + repo + "/issues", self._list_issues)
        r.add_post(p + repo + "/issues", self._create_issue)
        r.add_get(p + repo + "/issues/{number:\\d+}", self._get_issue)
        r.add_patch(p + repo + "/issues/{number:\\d+}", self._patch_issue)
        r.add_get(p + repo + "/issues/{number:\\d+}/comments", self._list_comments)
        r.add_post(p + repo + "/issues/{number:\\d+}/comments", self._create_comment)
        r.add_post(p + repo + "/issues/{number:\\d+}/labels", self._add_labels)
        r.add_delete(p + repo + "/issues/{number:\\d+}/labels/{name}", self._remove_label)
        r.add_get(p + repo + "/git/ref/{ref:.+}", self._get_ref)
        r.add_get(p + repo + "/git/refs/{ref:.+}", self._get_refs_legacy)
        r.add_get(p + repo + "/git/matching-refs/{ref:.*}", self._matching_refs)
        r.add_post(p + repo + "/git/refs", self._create_ref)
        r.add_get(p + repo + "/commits/{ref:.+}", self._get_commit)
        r.add_get(p + repo + "/actions/runs", self._list_runs)
        r.add_get(p + repo + "/actions/workflows/{workflow_id}/runs", self._list_runs)
        app.router.add_route("*", "/{tail:.*}", self._not_found)

    async def _not_found(self, request: web.Request) -> web.Response:
        return _error(404, "Not Found")

    def _check_repo(self, request: web.Request) -> None:
        name = f"{request.match_info['owner']}/{request.match_info['repo']}"
        if name.lower() != self.repo.lower():
            raise _http_error(404, "Not Found")

    def _issue(self, request: web.Request) -> FakeIssue:
        self._check_repo(request)
        issue = self.issues.get(int(request.match_info["number"]))
        if issue is None:
            raise _http_error(404, "Not Found")
        return issue

    # ------------------------------------------------------------ issues

    def _new_issue(
        self,
        title: str,
        body: str | None,
        labels: list[str],
        assignees: list[str],
        *,
        is_pull_request: bool,
    ) -> FakeIssue:
        number = len(self.issues) + 1
        issue = FakeIssue(
            number=number,
            title=title,
            body=body,
            labels=list(dict.fromkeys(labels)),
            assignees=assignees,
            is_pull_request=is_pull_request,
            indexed_from=time.monotonic() + self.search_lag,
        )
        self.issues[number] = issue
        return issue

    async def _create_issue(self, request: web.Request) -> web.Response:
        self._check_repo(request)
        data = await _json_body(request)
        _check_types(data, _ISSUE_FIELDS)
        title = data.get("title")
        if not isinstance(title, str) or not title.strip():
            raise _validation_failed(
                {"resource": "Issue", "code": "missing_field", "field": "title"}
            )
        body = data.get("body")
        _check_body_length(body, "Issue")
        assignees = list(data.get("assignees") or [])
        for login in assignees:
            if self.assignable is not None and login not in self.assignable:
                raise _validation_failed(
                    {"resource": "Issue", "code": "invalid", "field": "assignees", "value": login}
                )
        labels = [n["name"] if isinstance(n, dict) else str(n) for n in data.get("labels") or []]
        _check_label_names(labels)
        issue = self._new_issue(title, body, labels, assignees, is_pull_request=False)
        response = _json(self._issue_json(issue), status=201)
        response.headers["Location"] = (
            f"{self._api_base(request)}/repos/{self.repo}/issues/{issue.number}"
        )
        return response

    async def _get_issue(self, request: web.Request) -> web.Response:
        return _json(self._issue_json(self._issue(request)))

    async def _patch_issue(self, request: web.Request) -> web.Response:
        issue = self._issue(request)
        data = await _json_body(request)
        _check_types(data, _ISSUE_FIELDS)
        state = data.get("state", issue.state)
        if state not in {"open", "closed"}:
            raise _validation_failed(
                {"resource": "Issue", "code": "invalid", "field": "state", "value": state}
            )
        reason = data.get("state_reason")
        if reason is not None and reason not in STATE_REASONS:
            raise _validation_failed(
                {"resource": "Issue", "code": "invalid", "field": "state_reason", "value": reason}
            )
        if "title" in data:
            if not isinstance(data["title"], str) or not data["title"].strip():
                raise _validation_failed(
                    {"resource": "Issue", "code": "missing_field", "field": "title"}
                )
            issue.title = data["title"]
        if "body" in data:
            _check_body_length(data["body"], "Issue")
            issue.body = data["body"]
        if "labels" in data:
            issue.labels = list(dict.fromkeys(str(n) for n in data["labels"]))
        if state != issue.state:
            issue.events.append("closed" if state == "closed" else "reopened")
        if state == "closed" and issue.state == "open":
            issue.closed_at = _now_iso()
            issue.state_reason = reason or "completed"
        elif state == "open" and issue.state == "closed":
            issue.closed_at = None
            issue.state_reason = "reopened"
        elif reason is not None:
            issue.state_reason = reason
        issue.state = state
        issue.updated_at = _now_iso()
        return _json(self._issue_json(issue))

    async def _list_issues(self, request: web.Request) -> web.Response:
        self._check_repo(request)
        state = request.query.get("state", "open")
        wanted = [n for n in request.query.get("labels", "").split(",") if n]
        issues = [
            i
            for i in self.issues.values()
            if (state == "all" or i.state == state) and all(n in i.labels for n in wanted)
        ]
        reverse = request.query.get("direction", "desc") == "desc"
        issues.sort(key=lambda i: i.number, reverse=reverse)
        return self._page(request, [self._issue_json(i) for i in issues])

    # ------------------------------------------------------------ comments and labels

    async def _list_comments(self, request: web.Request) -> web.Response:
        issue = self._issue(request)
        since = request.query.get("since")
        if since is not None and not _ISO_TIME.fullmatch(since):
            raise _http_error(422, "Invalid value for since: not an ISO 8601 timestamp")
        comments = [c for c in issue.comments if since is None or c.created_at >= since]
        return self._page(request, [self._comment_json(issue, c) for c in comments])

    async def _create_comment(self, request: web.Request) -> web.Response:
        issue = self._issue(request)
        data = await _json_body(request)
        _check_types(data, {"body": (str,)})
        body = data.get("body")
        if not isinstance(body, str) or not body:
            raise _validation_failed(
                {"resource": "IssueComment", "code": "missing_field", "field": "body"}
            )
        _check_body_length(body, "IssueComment")
        comment = FakeComment(next(self._ids), body, _now_iso())
        issue.comments.append(comment)
        issue.updated_at = comment.created_at
        return _json(self._comment_json(issue, comment), status=201)

    async def _add_labels(self, request: web.Request) -> web.Response:
        issue = self._issue(request)
        data = await _json_body(request)
        names = data.get("labels") if isinstance(data, dict) else data
        if not isinstance(names, list) or not names:
            raise _validation_failed(
                {"resource": "Label", "code": "missing_field", "field": "labels"}
            )
        if not all(isinstance(n, str) and 0 < len(n) <= 50 for n in names):
            raise _validation_failed(  # label names are strings of at most 50 characters
                {"resource": "Label", "code": "invalid", "field": "labels"}
            )
        issue.events.extend(f"labeled:{n}" for n in dict.fromkeys(names) if n not in issue.labels)
        issue.labels = list(dict.fromkeys([*issue.labels, *(str(n) for n in names)]))
        issue.updated_at = _now_iso()
        return _json([self._label_json(n) for n in issue.labels])

    async def _remove_label(self, request: web.Request) -> web.Response:
        issue = self._issue(request)
        name = request.match_info["name"]
        if name not in issue.labels:
            raise _http_error(404, "Label does not exist")
        issue.labels.remove(name)
        issue.events.append(f"unlabeled:{name}")
        issue.updated_at = _now_iso()
        return _json([self._label_json(n) for n in issue.labels])

    # ------------------------------------------------------------ search

    async def _search_issues(self, request: web.Request) -> web.Response:
        query = request.query.get("q", "")
        phrases, qualifiers, words = _parse_query(query)
        kinds = qualifiers.get("is", [])
        if not ({"issue", "pr", "pull-request"} & set(kinds)):
            raise _validation_failed(
                {
                    "message": "Query must include 'is:issue' or 'is:pull-request'",
                    "resource": "Search",
                    "field": "q",
                    "code": "invalid",
                }
            )
        repos = {r.lower() for r in qualifiers.get("repo", [])}
        if repos and repos != {self.repo.lower()}:
            raise _validation_failed(
                {
                    "message": "The listed users and repositories cannot be searched either "
                    "because the resources do not exist or you do not have permission to "
                    "view them.",
                    "resource": "Search",
                    "field": "q",
                    "code": "invalid",
                }
            )
        fields = qualifiers.get("in", []) or ["title", "body"]
        now = time.monotonic()
        want_pull_requests = bool({"pr", "pull-request"} & set(kinds))
        hits = []
        for issue in self.issues.values():
            if issue.indexed_from > now or issue.is_pull_request != want_pull_requests:
                continue
            if "state" in qualifiers and issue.state not in qualifiers["state"]:
                continue
            if not all(label in issue.labels for label in qualifiers.get("label", [])):
                continue
            text = _tokens(
                " ".join(getattr(issue, f) or "" for f in fields if f in {"title", "body"})
            )
            if all(_contains_phrase(text, _tokens(p)) for p in [*phrases, *words]):
                hits.append(issue)
        hits.sort(key=lambda i: i.number, reverse=True)
        items = [{**self._issue_json(i), "score": 1.0} for i in hits]
        response = self._page(request, items, envelope="items")
        response.headers["x-ratelimit-resource"] = "search"
        return response

    # ------------------------------------------------------------ git refs and commits

    def _ref_json(self, request: web.Request, ref: str) -> dict[str, Any]:
        base = f"{self._api_base(request)}/repos/{self.repo}"
        sha = self.refs[ref]
        return {
            "ref": ref,
            "node_id": f"REF_{ref}",
            "url": f"{base}/git/{ref}",
            "object": {"type": "commit", "sha": sha, "url": f"{base}/git/commits/{sha}"},
        }

    async def _get_ref(self, request: web.Request) -> web.Response:
        self._check_repo(request)
        ref = "refs/" + request.match_info["ref"]
        if ref not in self.refs:
            raise _http_error(404, "Not Found")
        return _json(self._ref_json(request, ref))

    async def _get_refs_legacy(self, request: web.Request) -> web.Response:
        self._check_repo(request)
        ref = "refs/" + request.match_info["ref"]
        if ref in self.refs:
            return _json(self._ref_json(request, ref))
        prefixed = sorted(r for r in self.refs if r.startswith(ref))
        if not prefixed:
            raise _http_error(404, "Not Found")
        return _json([self._ref_json(request, r) for r in prefixed])

    async def _matching_refs(self, request: web.Request) -> web.Response:
        self._check_repo(request)
        ref = "refs/" + request.match_info["ref"]
        return _json([self._ref_json(request, r) for r in sorted(self.refs) if r.startswith(ref)])

    async def _create_ref(self, request: web.Request) -> web.Response:
        self._check_repo(request)
        data = await _json_body(request)
        ref, sha = data.get("ref"), data.get("sha")
        if not isinstance(ref, str) or not ref.startswith("refs/") or ref.count("/") < 2:
            raise _http_error(
                422, "Reference name must start with 'refs/' and have at least two slashes."
            )
        if not isinstance(sha, str) or sha not in self.commits:
            raise _http_error(422, "Object does not exist")
        if ref in self.refs:
            raise _http_error(422, "Reference already exists")
        self.refs[ref] = sha
        return _json(self._ref_json(request, ref), status=201)

    async def _get_commit(self, request: web.Request) -> web.Response:
        self._check_repo(request)
        wanted = request.match_info["ref"]
        sha = self.refs.get(f"refs/heads/{wanted}") or self.refs.get(f"refs/tags/{wanted}")
        if sha is None:
            matches = [s for s in self.commits if len(wanted) >= 7 and s.startswith(wanted)]
            sha = matches[0] if len(matches) == 1 else None
        if sha is None or sha not in self.commits:
            raise _http_error(422, f"No commit found for SHA: {wanted}")
        commit = self.commits[sha]
        base = f"{self._api_base(request)}/repos/{self.repo}"
        person = {"name": "Release Bot", "email": "bot@example.com", "date": commit.date}
        return _json(
            {
                "sha": sha,
                "node_id": f"C_{sha[:12]}",
                "url": f"{base}/commits/{sha}",
                "html_url": f"{self.html_url}/{self.repo}/commit/{sha}",
                "commit": {
                    "message": commit.message,
                    "author": person,
                    "committer": person,
                    "tree": {"sha": hashlib.sha1(sha.encode(), usedforsecurity=False).hexdigest()},
                },
                "parents": [{"sha": p, "url": f"{base}/commits/{p}"} for p in commit.parents],
                "files": [],
            }
        )

    # ------------------------------------------------------------ workflow runs

    async def _list_runs(self, request: web.Request) -> web.Response:
        self._check_repo(request)
        runs = list(self.workflow_runs.values())
        workflow = request.match_info.get("workflow_id")
        if workflow is not None:
            workflow_id = int(workflow) if workflow.isdigit() else self.workflows.get(workflow)
            if workflow_id not in self.workflows.values():
                raise _http_error(404, "Not Found")
            runs = [r for r in runs if r.workflow_id == workflow_id]
        q = request.query
        if "branch" in q:
            runs = [r for r in runs if r.head_branch == q["branch"]]
        if "event" in q:
            runs = [r for r in runs if r.event == q["event"]]
        if "head_sha" in q:
            runs = [r for r in runs if r.head_sha == q["head_sha"]]
        if "status" in q:
            status = q["status"]
            key = "status" if status in RUN_STATUSES else "conclusion"
            runs = [r for r in runs if getattr(r, key) == status]
        runs.sort(key=lambda r: r.id, reverse=True)
        return self._page(request, [self._run_json(r) for r in runs], envelope="workflow_runs")

    def _run_json(self, run: FakeWorkflowRun) -> dict[str, Any]:
        return {
            "id": run.id,
            "name": run.name,
            "node_id": f"WFR_{run.id}",
            "head_branch": run.head_branch,
            "head_sha": run.head_sha,
            "path": run.workflow_path,
            "run_number": run.run_number,
            "event": run.event,
            "status": run.status,
            "conclusion": run.conclusion,
            "workflow_id": run.workflow_id,
            "html_url": f"{self.html_url}/{self.repo}/actions/runs/{run.id}",
            "created_at": run.created_at,
            "updated_at": run.created_at,
        }

    # ------------------------------------------------------------ JSON shapes

    def _api_base(self, request: web.Request) -> str:
        return f"{request.scheme}://{request.host}{self.prefix}"

    def _label_json(self, name: str) -> dict[str, Any]:
        label_id = int.from_bytes(hashlib.sha1(name.encode(), usedforsecurity=False).digest()[:4])
        return {
            "id": label_id,
            "node_id": f"LA_{label_id}",
            "url": f"https://api.github.invalid/repos/{self.repo}/labels/{name}",
            "name": name,
            "color": "ededed",
            "default": False,
            "description": None,
        }

    def _issue_json(self, issue: FakeIssue) -> dict[str, Any]:
        kind = "pull" if issue.is_pull_request else "issues"
        user = {"login": "testnet-bot", "id": 1, "type": "User"}
        data: dict[str, Any] = {
            "id": 500_000 + issue.number,
            "node_id": f"I_{issue.number}",
            "number": issue.number,
            "title": issue.title,
            "body": issue.body,
            "state": issue.state,
            "state_reason": issue.state_reason,
            "locked": False,
            "user": user,
            "labels": [self._label_json(n) for n in issue.labels],
            "assignee": {"login": issue.assignees[0]} if issue.assignees else None,
            "assignees": [{"login": login} for login in issue.assignees],
            "milestone": None,
            "comments": len(issue.comments),
            "html_url": f"{self.html_url}/{self.repo}/{kind}/{issue.number}",
            "created_at": issue.created_at,
            "updated_at": issue.updated_at,
            "closed_at": issue.closed_at,
            "author_association": "OWNER",
        }
        if issue.is_pull_request:
            data["pull_request"] = {
                "html_url": data["html_url"],
                "merged_at": None,
            }
        return data

    def _comment_json(self, issue: FakeIssue, comment: FakeComment) -> dict[str, Any]:
        return {
            "id": comment.id,
            "node_id": f"IC_{comment.id}",
            "html_url": f"{self.html_url}/{self.repo}/issues/{issue.number}"
            f"#issuecomment-{comment.id}",
            "body": comment.body,
            "user": {"login": "testnet-bot", "id": 1, "type": "User"},
            "created_at": comment.created_at,
            "updated_at": comment.created_at,
            "author_association": "OWNER",
        }

    def _page(
        self, request: web.Request, items: list[Any], *, envelope: str | None = None
    ) -> web.Response:
        """One page of ``items`` (``per_page``, ``page``) with GitHub's ``Link`` header."""
        try:
            per_page = min(max(int(request.query.get("per_page", "30")), 1), 100)
            page = max(int(request.query.get("page", "1")), 1)
        except ValueError:
            raise _http_error(422, "Invalid pagination parameters") from None
        last = max(math.ceil(len(items) / per_page), 1)
        chunk = items[(page - 1) * per_page : page * per_page]
        if envelope == "items":
            payload: Any = {"total_count": len(items), "incomplete_results": False, "items": chunk}
        elif envelope is not None:
            payload = {"total_count": len(items), envelope: chunk}
        else:
            payload = chunk
        response = _json(payload)
        links = []
        if page < last:
            links.append(f'<{request.url.update_query(page=page + 1)}>; rel="next"')
            links.append(f'<{request.url.update_query(page=last)}>; rel="last"')
        if page > 1:
            links.append(f'<{request.url.update_query(page=1)}>; rel="first"')
            links.append(f'<{request.url.update_query(page=page - 1)}>; rel="prev"')
        if links:
            response.headers["Link"] = ", ".join(links)
        return response


# ---------------------------------------------------------------- helpers


@web.middleware
async def _reject_mw(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except _Reject as rejected:
        return rejected.response


def _json(payload: Any, *, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(payload).encode(),
        content_type="application/json",
        charset="utf-8",
    )


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return _json({"message": message, "documentation_url": DOCS, **extra}, status=status)


class _Reject(Exception):
    """Raised inside a handler to answer with an error response at once."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def _http_error(status: int, message: str, **extra: Any) -> _Reject:
    return _Reject(_error(status, message, **extra))


LABEL_NAME_MAX = 50
"""GitHub: "name is too long (maximum is 50 characters)" for a longer label name."""


def _check_label_names(names: list[str]) -> None:
    """Refuse label names GitHub would refuse (new names create labels)."""
    for name in names:
        if len(name) > LABEL_NAME_MAX:
            raise _validation_failed(
                {
                    "resource": "Label",
                    "code": "custom",
                    "field": "name",
                    "message": f"name is too long (maximum is {LABEL_NAME_MAX} characters)",
                }
            )


def _validation_failed(error: dict[str, Any]) -> _Reject:
    return _http_error(422, "Validation Failed", errors=[error])


_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
_ISSUE_FIELDS: dict[str, tuple[type, ...]] = {
    # "Create an issue" / "Update an issue" request bodies in GitHub's REST reference
    "title": (str, int),
    "body": (str, type(None)),
    "assignee": (str, type(None)),
    "milestone": (str, int, type(None)),
    "labels": (list,),
    "assignees": (list,),
    "state": (str,),
    "state_reason": (str, type(None)),
    "type": (str, type(None)),
}


def _check_types(data: dict[str, Any], fields: Mapping[str, tuple[type, ...]]) -> None:
    """GitHub's schema check: a known field of the wrong type is 422 "Invalid request"
    (unknown fields are ignored, as GitHub does); list items of ``labels`` are names
    or ``{"name": ...}`` objects, of ``assignees`` logins."""
    for name, types in fields.items():
        if name not in data:
            continue
        value = data[name]
        if not isinstance(value, types) or isinstance(value, bool):
            raise _http_error(
                422, f"Invalid request.\n\n{json.dumps(value)} is not a valid type for {name!r}."
            )
        if name == "labels" and not all(
            isinstance(v, str) or (isinstance(v, dict) and isinstance(v.get("name"), str))
            for v in value
        ):
            raise _http_error(422, "Invalid request.\n\nFor 'items', labels must be names.")
        if name == "assignees" and not all(isinstance(v, str) for v in value):
            raise _http_error(422, "Invalid request.\n\nFor 'items', assignees must be logins.")


def _check_body_length(body: object, resource: str) -> None:
    if isinstance(body, str) and len(body) > MAX_BODY_CHARS:
        raise _validation_failed(
            {
                "resource": resource,
                "code": "custom",
                "field": "body",
                "message": f"body is too long (maximum is {MAX_BODY_CHARS} characters)",
            }
        )


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        raise _http_error(400, "Problems parsing JSON") from None
    if not isinstance(data, dict):
        raise _http_error(400, "Problems parsing JSON")
    return data


_QUERY_TERM = re.compile(r'"([^"]*)"|(\S+)')
_WORD = re.compile(r"[0-9a-z]+")


def _parse_query(query: str) -> tuple[list[str], dict[str, list[str]], list[str]]:
    """Split a search query into quoted phrases, ``key:value`` qualifiers and bare words."""
    phrases: list[str] = []
    qualifiers: dict[str, list[str]] = {}
    words: list[str] = []
    for match in _QUERY_TERM.finditer(query):
        if match.group(1) is not None:
            phrases.append(match.group(1))
            continue
        term = match.group(2)
        key, sep, value = term.partition(":")
        if sep and key.lower() in {"repo", "in", "is", "state", "label", "type"}:
            if key.lower() == "type":  # type:issue is the older spelling of is:issue
                key = "is"
            qualifiers.setdefault(key.lower(), []).extend(value.lower().split(","))
        else:
            words.append(term)
    return phrases, qualifiers, words


def _tokens(text: str) -> list[str]:
    """Lower-cased words, punctuation dropped: roughly how GitHub indexes issue text."""
    return _WORD.findall(text.lower())


def _contains_phrase(text: list[str], phrase: list[str]) -> bool:
    if not phrase:
        return True
    n = len(phrase)
    return any(text[i : i + n] == phrase for i in range(len(text) - n + 1))
