"""integrations.github through the real gidgethub client against the HTTP-level GitHub fake."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.github import (
    GitHubClient,
    GitHubPermanentError,
    GitHubRetryLater,
    Issue,
    UnreadableReply,
    classify_http_error,
)
from tests.fakes.alert_payloads import alert
from tests.fakes.github_api import (
    GitHubFake,
    garbled_reply,
    omit_fields,
    primary_rate_limit,
    secondary_rate_limit,
    server_error,
    slow,
    too_many_requests,
)
from tests.integration.incident_harness import REPO as IB_REPO
from tests.integration.incident_harness import incident_bot
from tests.integration.test_incidents import stalled

TOKEN = "ghp_s3cr3t-TOKEN-value-0123456789"
REPO = "testnet/ops"
MARKER = "<!-- testnet-bot:incident:42 -->"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def gh() -> AsyncIterator[GitHubFake]:
    async with GitHubFake(token=TOKEN, repo=REPO) as fake:
        yield fake


@pytest.fixture
def client(session: aiohttp.ClientSession, gh: GitHubFake) -> GitHubClient:
    return GitHubClient(session, repo=REPO, token=TOKEN, api_url=gh.url)


# ---------------------------------------------------------------- issue lifecycle


async def test_create_comment_label_close_reopen(client: GitHubClient, gh: GitHubFake) -> None:
    issue = await client.create_issue(
        "Incident: block production stalled",
        f"Blocks stopped.\n\n{MARKER}",
        labels=["incident", "severity/critical"],
        assignees=["alice"],
    )
    assert issue == Issue(
        number=1,
        title="Incident: block production stalled",
        state="open",
        labels=("incident", "severity/critical"),
        html_url=f"https://github.com/{REPO}/issues/1",
        body=f"Blocks stopped.\n\n{MARKER}",
    )
    assert gh.issues[1].assignees == ["alice"]

    comment = await client.comment(1, "Validator pods restarting.")
    assert comment.html_url == f"https://github.com/{REPO}/issues/1#issuecomment-{comment.id}"
    assert [c.body for c in gh.issues[1].comments] == ["Validator pods restarting."]

    assert await client.add_labels(1, ["triaged", "incident"]) == (
        "incident",
        "severity/critical",
        "triaged",
    )
    await client.remove_label(1, "severity/critical")
    assert gh.issues[1].labels == ["incident", "triaged"]

    closed = await client.close_issue(1, reason="not_planned")
    assert (closed.state, closed.state_reason) == ("closed", "not_planned")
    reopened = await client.reopen_issue(1)
    assert (reopened.state, reopened.state_reason) == ("open", "reopened")

    edited = await client.update_issue(1, title="Incident: resolved", body="done")
    assert (edited.title, edited.body) == ("Incident: resolved", "done")
    assert await client.get_issue(1) == edited


async def test_remove_label_tolerates_a_label_the_issue_lacks(
    client: GitHubClient, gh: GitHubFake
) -> None:
    await client.create_issue("t", "b", labels=["incident"])
    await client.remove_label(1, "never-added")
    assert gh.issues[1].labels == ["incident"]
    assert gh.matching("DELETE")[-1].status == 404


async def test_remove_label_on_a_missing_issue_is_still_an_error(client: GitHubClient) -> None:
    with pytest.raises(GitHubPermanentError) as raised:
        await client.remove_label(99, "incident")
    assert raised.value.status == 404


async def test_issue_numbers_are_shared_with_pull_requests(
    client: GitHubClient, gh: GitHubFake
) -> None:
    gh.add_pull_request("Bump deps")
    issue = await client.create_issue("t", "b")
    assert issue.number == 2


async def test_missing_issue_is_permanent_404(client: GitHubClient) -> None:
    with pytest.raises(GitHubPermanentError) as raised:
        await client.get_issue(7)
    assert raised.value.status == 404
    assert "/repos/testnet/ops/issues/7" in str(raised.value)


async def test_validation_failure_names_the_field(session: aiohttp.ClientSession) -> None:
    async with GitHubFake(token=TOKEN, repo=REPO, assignable={"alice"}) as gh:
        client = GitHubClient(session, repo=REPO, token=TOKEN, api_url=gh.url)
        with pytest.raises(GitHubPermanentError) as raised:
            await client.create_issue("t", "b", assignees=["mallory"])
        assert raised.value.status == 422
        assert "assignees" in raised.value.message
        with pytest.raises(GitHubPermanentError) as raised:
            await client.create_issue("t", "x" * 70_000)
        assert "too long" in raised.value.message
        assert gh.issues == {}


async def test_invalid_state_reason_is_refused(client: GitHubClient, gh: GitHubFake) -> None:
    await client.create_issue("t", "b")
    with pytest.raises(GitHubPermanentError) as raised:
        await client.update_issue(1, state="closed", state_reason="wontfix")  # type: ignore[arg-type]
    assert raised.value.status == 422
    assert gh.issues[1].state == "open"


# ---------------------------------------------------------------- idempotency marker


async def test_find_issue_by_marker_finds_only_the_marked_issue(
    client: GitHubClient, gh: GitHubFake
) -> None:
    gh.add_issue("unrelated", "testnet-bot incident 42 was noisy, see <!-- other -->")
    gh.add_issue("near miss", "<!-- testnet-bot:incident:420 -->")
    marked = await client.create_issue("Incident 42", f"details\n{MARKER}", labels=["incident"])

    found = await client.find_issue_by_marker(MARKER)
    assert found == marked
    assert await client.find_issue_by_marker("<!-- testnet-bot:incident:43 -->") is None
    query = gh.matching("GET", "/search/issues")[0].query["q"]
    assert query == f'"testnet-bot:incident:42" repo:{REPO} in:body is:issue'


async def test_find_issue_by_marker_prefers_the_oldest_duplicate(
    client: GitHubClient, gh: GitHubFake
) -> None:
    first = await client.create_issue("a", MARKER)
    await client.create_issue("b", MARKER)
    assert await client.find_issue_by_marker(MARKER) == first


async def test_find_issue_by_marker_ignores_pull_requests(
    client: GitHubClient, gh: GitHubFake
) -> None:
    pr = gh.add_pull_request("pr")
    pr.body = MARKER
    assert await client.find_issue_by_marker(MARKER, fallback_label="incident") is None


async def test_marker_fallback_lists_labelled_issues_while_search_lags(
    session: aiohttp.ClientSession,
) -> None:
    async with GitHubFake(token=TOKEN, repo=REPO, search_lag=3600) as gh:
        client = GitHubClient(session, repo=REPO, token=TOKEN, api_url=gh.url)
        for n in range(120):  # more than one page of labelled issues
            gh.add_issue(f"old {n}", f"<!-- testnet-bot:incident:{1000 + n} -->", ["incident"])
        marked = await client.create_issue("Incident 42", MARKER, labels=["incident"])

        assert await client.find_issue_by_marker(MARKER) is None  # search has not indexed it
        assert await client.find_issue_by_marker(MARKER, fallback_label="incident") == marked
        assert await client.find_issue_by_marker(MARKER, fallback_label="other") is None

        oldest = await client.find_issue_by_marker(
            "<!-- testnet-bot:incident:1000 -->", fallback_label="incident"
        )
        assert oldest is not None and oldest.number == 1
        listings = gh.matching("GET", f"/repos/{REPO}/issues")
        assert any(r.query.get("page") == "2" for r in listings)  # followed the Link header


async def test_search_without_is_issue_qualifier_is_refused_by_the_fake(
    session: aiohttp.ClientSession, gh: GitHubFake
) -> None:
    # GitHub now answers 422 when a search names neither is:issue nor is:pull-request.
    url = f"{gh.url}/search/issues"
    headers = {"Authorization": f"token {TOKEN}", "User-Agent": "t"}
    async with session.get(url, params={"q": f"x repo:{REPO}"}, headers=headers) as resp:
        assert resp.status == 422


# ---------------------------------------------------------------- fault classification


async def test_secondary_rate_limit_with_retry_after(client: GitHubClient, gh: GitHubFake) -> None:
    gh.inject(secondary_rate_limit(retry_after=17), method="POST")
    with pytest.raises(GitHubRetryLater) as raised:
        await client.create_issue("t", "b")
    assert raised.value.retry_after == 17
    assert "secondary rate limit" in raised.value.reason
    assert gh.issues == {}
    assert (await client.create_issue("t", "b")).number == 1  # the fault was used up


async def test_secondary_rate_limit_without_retry_after_waits_a_minute(
    client: GitHubClient, gh: GitHubFake
) -> None:
    gh.inject(secondary_rate_limit(retry_after=None))
    with pytest.raises(GitHubRetryLater) as raised:
        await client.comment(1, "x")
    assert raised.value.retry_after == 60


async def test_429_with_retry_after(client: GitHubClient, gh: GitHubFake) -> None:
    gh.inject(too_many_requests(retry_after=5))
    with pytest.raises(GitHubRetryLater) as raised:
        await client.get_issue(1)
    assert (raised.value.retry_after, raised.value.status) == (5, 429)


async def test_primary_rate_limit_waits_until_reset(client: GitHubClient, gh: GitHubFake) -> None:
    gh.inject(primary_rate_limit(reset_in=300))
    with pytest.raises(GitHubRetryLater) as raised:
        await client.find_issue_by_marker(MARKER)
    assert raised.value.retry_after is not None
    assert 295 <= raised.value.retry_after <= 301
    assert "primary rate limit" in raised.value.reason


async def test_server_error_is_retryable_without_a_wait(
    client: GitHubClient, gh: GitHubFake
) -> None:
    gh.inject(server_error(502), times=2, path=f"/repos/{REPO}/issues")
    for _ in range(2):
        with pytest.raises(GitHubRetryLater) as raised:
            await client.create_issue("t", "b")
        assert (raised.value.retry_after, raised.value.status) == (None, 502)
        assert "Bad Gateway" in str(raised.value)
    assert (await client.create_issue("t", "b")).number == 1
    assert [r.status for r in gh.requests] == [502, 502, 201]


async def test_slow_github_times_out_as_retry_later(
    session: aiohttp.ClientSession, gh: GitHubFake
) -> None:
    client = GitHubClient(session, repo=REPO, token=TOKEN, api_url=gh.url, request_timeout=0.2)
    gh.inject(slow(30))
    with pytest.raises(GitHubRetryLater) as raised:
        await client.get_issue(1)
    assert raised.value.retry_after is None
    assert "no answer within 0.2s" in raised.value.reason


async def test_connection_refused_is_retry_later(session: aiohttp.ClientSession) -> None:
    async with GitHubFake(token=TOKEN, repo=REPO) as gh:
        url = gh.url
    client = GitHubClient(session, repo=REPO, token=TOKEN, api_url=url)
    with pytest.raises(GitHubRetryLater) as raised:
        await client.get_issue(1)
    assert raised.value.retry_after is None


async def test_a_403_without_rate_limit_signs_is_permanent() -> None:
    error = classify_http_error(403, {}, "Resource not accessible by integration")
    assert isinstance(error, GitHubPermanentError)
    assert error.status == 403


async def test_faults_only_hit_matching_requests(client: GitHubClient, gh: GitHubFake) -> None:
    gh.inject(secondary_rate_limit(retry_after=3), method="POST", path=f"/repos/{REPO}/issues")
    gh.add_issue("existing", "b")
    assert (await client.get_issue(1)).title == "existing"
    with pytest.raises(GitHubRetryLater):
        await client.comment(1, "x")
    assert gh.requests[-1].fault == "secondary_rate_limit"


@given(
    status=st.sampled_from([403, 429]),
    retry_after=st.one_of(st.none(), st.integers(min_value=0, max_value=10_000)),
    reset_offset=st.integers(min_value=-10_000, max_value=10_000),
)
def test_rate_limit_waits_are_never_negative(
    status: int, retry_after: int | None, reset_offset: int
) -> None:
    now = 1_800_000_000.0
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(now) + reset_offset)}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    error = classify_http_error(status, headers, "API rate limit exceeded", now=lambda: now)
    assert isinstance(error, GitHubRetryLater)
    assert error.retry_after is not None and error.retry_after >= 0
    if retry_after is not None:
        assert error.retry_after == retry_after
    else:
        assert error.retry_after == max(reset_offset, 0)


# ---------------------------------------------------------------- credentials


async def test_wrong_token_is_permanent_and_never_leaks(
    session: aiohttp.ClientSession, gh: GitHubFake, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "ghp_WRONG-token-that-must-not-leak"
    client = GitHubClient(session, repo=REPO, token=wrong, api_url=gh.url)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(GitHubPermanentError) as raised:
        await client.create_issue("t", "b")
    assert raised.value.status == 401
    assert "bad credentials" in str(raised.value).lower()
    shown = [str(raised.value), repr(raised.value), repr(client), caplog.text]
    assert all(wrong not in text for text in shown)
    assert gh.issues == {}


async def test_bearer_scheme_is_accepted(session: aiohttp.ClientSession, gh: GitHubFake) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "User-Agent": "t"}
    async with session.get(f"{gh.url}/repos/{REPO}/issues", headers=headers) as resp:
        assert resp.status == 200
    async with session.get(f"{gh.url}/repos/{REPO}/issues", headers={"User-Agent": "t"}) as resp:
        assert resp.status == 401


async def test_token_never_appears_in_logs_on_success_either(
    client: GitHubClient, gh: GitHubFake, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gh.inject(server_error(503))
    with pytest.raises(GitHubRetryLater) as raised:
        await client.create_issue("t", "b")
    await client.create_issue("t", "b")
    assert TOKEN not in caplog.text
    assert TOKEN not in str(raised.value)


def test_client_refuses_a_malformed_repo() -> None:
    with pytest.raises(ValueError, match="owner/name"):
        GitHubClient(None, repo="just-a-name", token="t")  # type: ignore[arg-type]


# ---------------------------------------------------------------- GitHub Enterprise Server


async def test_enterprise_api_url_with_path_prefix(session: aiohttp.ClientSession) -> None:
    async with GitHubFake(token=TOKEN, repo=REPO, prefix="/api/v3") as gh:
        assert gh.url.endswith("/api/v3")
        client = GitHubClient(session, repo=REPO, token=TOKEN, api_url=gh.url + "/")
        issue = await client.create_issue("t", MARKER, labels=["incident"])
        assert await client.find_issue_by_marker(MARKER) == issue
        await client.comment(issue.number, "hello")
        assert {r.status for r in gh.requests} <= {200, 201}
        assert [r.path for r in gh.requests] == [
            f"/repos/{REPO}/issues",
            "/search/issues",
            f"/repos/{REPO}/issues/1/comments",
        ]
        with pytest.raises(GitHubPermanentError) as raised:
            await client.get_issue(5)
        assert "/api/v3/repos/testnet/ops/issues/5" in str(raised.value)


async def test_api_url_without_the_prefix_misses_every_path(
    session: aiohttp.ClientSession,
) -> None:
    async with GitHubFake(token=TOKEN, repo=REPO, prefix="/api/v3") as gh:
        client = GitHubClient(session, repo=REPO, token=TOKEN, api_url=gh.url[: -len("/api/v3")])
        with pytest.raises(GitHubPermanentError) as raised:
            await client.create_issue("t", "b")
        assert raised.value.status == 404


# ---------------------------------------------------------------- releases: refs, commits, runs


async def test_refs_and_commits(client: GitHubClient, gh: GitHubFake) -> None:
    root = gh.add_commit("initial")
    head = gh.add_commit("release: v0.62.0", parents=[root])
    gh.set_ref("refs/heads/master", head)

    main = await client.get_ref("heads/master")
    assert main is not None and main.sha == head
    assert await client.get_ref("heads/release/v0.62.0") is None

    created = await client.create_ref("refs/heads/release/v0.62.0", head)
    assert (created.ref, created.sha) == ("refs/heads/release/v0.62.0", head)
    assert await client.get_ref("refs/heads/release/v0.62.0") == created

    with pytest.raises(GitHubPermanentError, match="already exists"):
        await client.create_ref("heads/release/v0.62.0", head)
    with pytest.raises(GitHubPermanentError, match="Object does not exist"):
        await client.create_ref("heads/other", "0" * 40)

    commit = await client.get_commit("release/v0.62.0")
    assert (commit.sha, commit.message, commit.parents) == (head, "release: v0.62.0", (root,))
    assert (await client.get_commit(head[:10])).sha == head
    with pytest.raises(GitHubPermanentError) as raised:
        await client.get_commit("deadbeef")
    assert raised.value.status == 422


async def test_workflow_runs_by_branch_and_workflow(client: GitHubClient, gh: GitHubFake) -> None:
    sha = gh.add_commit("c")
    first = gh.add_workflow_run(workflow="release.yml", branch="release/v1", head_sha=sha)
    gh.add_workflow_run(workflow="ci.yml", branch="release/v1", head_sha=sha)
    gh.add_workflow_run(workflow="release.yml", branch="master", head_sha=sha)
    second = gh.add_workflow_run(workflow="release.yml", branch="release/v1", head_sha=sha)

    runs = await client.list_workflow_runs(branch="release/v1", workflow="release.yml")
    assert [r.id for r in runs] == [second.id, first.id]  # newest first
    assert [r.run_number for r in runs] == [3, 1]
    assert runs[0].status == "queued" and runs[0].conclusion is None

    second.status, second.conclusion = "completed", "success"
    latest = (await client.list_workflow_runs(branch="release/v1", workflow="release.yml"))[0]
    assert (latest.status, latest.conclusion) == ("completed", "success")

    assert len(await client.list_workflow_runs(branch="release/v1")) == 3
    assert len(await client.list_workflow_runs(limit=2)) == 2
    by_id = await client.list_workflow_runs(workflow=gh.workflows["ci.yml"])
    assert [r.name for r in by_id] == ["ci"]
    with pytest.raises(GitHubPermanentError) as raised:
        await client.list_workflow_runs(workflow="missing.yml")
    assert raised.value.status == 404


# ---------------------------------------------------------------- the fake's request log


async def test_request_log_shows_no_request_before_retry_after(
    client: GitHubClient, gh: GitHubFake
) -> None:
    # The shape an outbox test would use: a retry must not reach GitHub before the wait.
    gh.inject(secondary_rate_limit(retry_after=2), method="POST")
    with pytest.raises(GitHubRetryLater) as raised:
        await client.create_issue("t", "b")
    limited = gh.requests[-1]
    assert raised.value.retry_after == 2
    not_before = limited.received_at + raised.value.retry_after
    assert all(r.received_at < not_before for r in gh.requests)
    assert time.monotonic() < not_before  # nothing has waited: no retry could be due yet
    assert gh.count("POST", f"/repos/{REPO}/issues") == 1


async def test_a_timed_out_create_can_still_land_and_the_marker_finds_it(
    session: aiohttp.ClientSession, gh: GitHubFake
) -> None:
    # Why the marker exists: GitHub may create the issue after the client gave up.
    client = GitHubClient(session, repo=REPO, token=TOKEN, api_url=gh.url, request_timeout=0.05)
    gh.inject(slow(0.3), method="POST")
    with pytest.raises(GitHubRetryLater):
        await client.create_issue("Incident 42", MARKER, labels=["incident"])
    await gh.wait_until(lambda: gh.count("POST") == 1)
    assert list(gh.issues) == [1]
    found = await client.find_issue_by_marker(MARKER, fallback_label="incident")
    assert found is not None and found.number == 1


# ---------------------------------------------------------------- exactly once, through the outbox


async def test_a_2xx_missing_optional_fields_is_success(
    client: GitHubClient, gh: GitHubFake
) -> None:
    gh.inject(omit_fields("html_url", "title"), method="POST", path=f"/repos/{REPO}/issues")
    issue = await client.create_issue("Incident 1", MARKER)
    assert (issue.number, issue.html_url) == (1, "")
    gh.inject(omit_fields("html_url", "id"), method="POST")
    comment = await client.comment(1, "hello")
    assert comment.html_url == ""
    assert len(gh.issues[1].comments) == 1


async def test_a_2xx_that_cannot_be_read_may_have_landed(
    client: GitHubClient, gh: GitHubFake
) -> None:
    gh.add_issue("Incident 1", MARKER)
    gh.inject(garbled_reply(), method="POST")
    with pytest.raises(UnreadableReply) as raised:
        await client.comment(1, "hello <!-- m:1 -->")
    assert raised.value.maybe_applied
    assert await client.find_comment(1, "<!-- m:1 -->") is not None
    assert await client.find_comment(1, "<!-- m:2 -->") is None
    future = "2999-01-01T00:00:00Z"
    assert await client.find_comment(1, "<!-- m:1 -->", since=future) is None


async def test_a_rate_limit_was_not_applied_but_a_5xx_may_have_been(
    client: GitHubClient, gh: GitHubFake
) -> None:
    gh.inject(secondary_rate_limit(retry_after=1), method="POST")
    with pytest.raises(GitHubRetryLater) as limited:
        await client.create_issue("t", "b")
    gh.inject(server_error(502), method="POST")
    with pytest.raises(GitHubRetryLater) as broken:
        await client.create_issue("t", "b")
    assert (limited.value.maybe_applied, broken.value.maybe_applied) == (False, True)


async def test_the_fake_checks_body_types_as_github_does(
    client: GitHubClient, gh: GitHubFake
) -> None:
    with pytest.raises(GitHubPermanentError) as raised:
        await client._call(
            "POST", "/repos/{owner}/{repo}/issues", data={"title": "t", "labels": "x"}
        )
    assert raised.value.status == 422 and "Invalid request" in raised.value.message
    with pytest.raises(GitHubPermanentError):
        await client.add_labels(1, ["x" * 51])
    assert gh.issues == {}


async def test_comments_whose_replies_lack_html_url_or_are_garbled_are_posted_once(
    tmp_path: Path,
) -> None:
    async with incident_bot(tmp_path) as ib:
        ib.gh.inject(omit_fields("html_url"), method="POST", path=f"/repos/{IB_REPO}/issues")
        await ib.fire([stalled("validator-0")])
        await ib.gh.wait_until(lambda: len(ib.issues()) == 1, within=10)
        comments = f"/repos/{IB_REPO}/issues/1/comments"
        ib.gh.inject(omit_fields("html_url"), method="POST", path=comments)
        ib.gh.inject(garbled_reply(), method="POST", path=comments)
        (incident,) = ib.store.incidents.listing(open_only=True)
        ib.desk.acknowledge(incident.id, "carol")
        ib.desk.resolve(incident.id, "carol", "fixed")
        await ib.delivered(timeout=20)
        bodies = [c.body for c in ib.gh.issues[1].comments]
        assert [b.split("\n")[0] for b in bodies] == [
            "Acknowledged by carol.",
            "Resolved by carol: fixed",
        ]
        assert all("<!-- testnet-bot:comment:" in b for b in bodies)
        assert len(ib.issues()) == 1 and ib.issues()[0].state == "closed"
        assert ib.store.dead_items() == []


async def test_one_incident_whose_github_item_keeps_failing_does_not_hold_up_another(
    tmp_path: Path,
) -> None:
    async with incident_bot(tmp_path, outbox={"base_backoff": "2s"}) as ib:
        await ib.fire([stalled("validator-0")])
        await ib.gh.wait_until(lambda: len(ib.issues()) == 1, within=10)
        ib.gh.inject(server_error(502), times=1000, path=f"/repos/{IB_REPO}/issues/1/comments")
        (first,) = ib.store.incidents.listing(open_only=True)
        ib.desk.acknowledge(first.id, "carol")  # its comment now fails again and again
        await ib.gh.wait_until(
            lambda: ib.gh.count("POST", f"/repos/{IB_REPO}/issues/1/comments") >= 1, within=10
        )
        fired = time.monotonic()
        await ib.fire([alert({"alertname": "BridgeContractReverts", "network": "alpha"})])
        await ib.gh.wait_until(lambda: len(ib.issues()) == 2, within=10)
        assert time.monotonic() - fired < 5.0
        assert ib.issues()[1].title.endswith("bridge contract failures (alpha)")
        assert ib.gh.issues[1].comments == []  # the bad item is still backing off, alone
