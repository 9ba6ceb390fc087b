"""The release half of integrations.github (pulls, search, releases, runs, dispatch)
through the real gidgethub client against the fake whose git endpoints read and write
a real bare repository."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from integrations.github import GitHubClient, GitHubPermanentError
from tests.fakes.git_remote import BASE_TAG, SeededRemote, git, seed_remote
from tests.fakes.github_release import ReleaseGitHubFake

TOKEN = "ghp_release-T0KEN-0123456789"
REPO = "AztecProtocol/aztec-packages"


@pytest.fixture
def remote(tmp_path: Path) -> SeededRemote:
    return seed_remote(tmp_path / "remote")


@pytest.fixture
async def gh(remote: SeededRemote) -> AsyncIterator[ReleaseGitHubFake]:
    async with ReleaseGitHubFake(
        token=TOKEN,
        repo=REPO,
        git_dir=remote.path,
        push_workflows={"aztec-packages-v": "release-please.yml"},
        workflow_inputs={"deploy-network.yml": {"version", "network"}},
    ) as fake:
        yield fake


@pytest.fixture
async def client(gh: ReleaseGitHubFake) -> AsyncIterator[GitHubClient]:
    async with aiohttp.ClientSession() as session:
        yield GitHubClient(session, repo=REPO, token=TOKEN, api_url=gh.url)


async def test_refs_created_through_the_api_are_branches_git_sees(
    client: GitHubClient, remote: SeededRemote
) -> None:
    base = await client.get_commit(BASE_TAG)
    assert base.sha == remote.base
    created = await client.create_ref("refs/heads/aztec-packages-v0.61.1", base.sha)
    assert created.sha == remote.base
    assert remote.rev("aztec-packages-v0.61.1") == remote.base
    ref = await client.get_ref("heads/aztec-packages-v0.61.1")
    assert ref is not None and ref.sha == remote.base
    with pytest.raises(GitHubPermanentError) as again:
        await client.create_ref("refs/heads/aztec-packages-v0.61.1", base.sha)
    assert again.value.status == 422
    assert await client.get_ref("heads/no-such-branch") is None


async def test_commits_pushed_with_git_are_what_the_api_returns(
    client: GitHubClient, remote: SeededRemote
) -> None:
    head = await client.get_commit("master")
    assert head.sha == remote.rev("master")
    assert head.message == remote.log("master", 1)[0][1]
    merge = await client.get_commit(remote.merges[101])
    assert len(merge.parents) == 2
    with pytest.raises(GitHubPermanentError):
        await client.get_commit("0" * 40)


async def test_compare_counts_what_git_counts(client: GitHubClient, remote: SeededRemote) -> None:
    ahead = await client.compare(BASE_TAG, "master")
    assert ahead.status == "ahead" and ahead.behind_by == 0
    assert ahead.commits[-1] == remote.rev("master")
    assert ahead.ahead_by == len(ahead.commits) and remote.merges[101] in ahead.commits
    behind = await client.compare("master", BASE_TAG)
    assert (behind.status, behind.ahead_by, behind.behind_by) == ("behind", 0, ahead.ahead_by)
    same = await client.compare("master", "master")
    assert same.status == "identical" and same.commits == ()
    with pytest.raises(GitHubPermanentError) as unknown:
        await client.compare("master", "no-such-branch")
    assert unknown.value.status == 404


async def test_pulls_say_whether_they_are_merged_and_with_which_commit(
    client: GitHubClient, gh: ReleaseGitHubFake, remote: SeededRemote
) -> None:
    gh.add_pull(101, "fix: p2p reconnects", merge_commit_sha=remote.merges[101], labels=["v0.62"])
    gh.add_pull(104, "feat: still in review", labels=["v0.62"])
    merged = await client.get_pull(101)
    assert merged is not None and merged.merged and merged.merge_commit_sha == remote.merges[101]
    open_one = await client.get_pull(104)
    assert open_one is not None and not open_one.merged and open_one.merge_commit_sha is None
    assert await client.get_pull(999) is None
    found = {p.number: p.merged for p in await client.search_pulls("label:v0.62")}
    assert found == {101: True, 104: False}
    assert await client.search_pulls("label:other") == []


async def test_releases_by_tag_with_their_assets(
    client: GitHubClient, gh: ReleaseGitHubFake
) -> None:
    assert await client.get_release_by_tag("aztec-packages-v0.62.0") is None
    gh.add_release("aztec-packages-v0.62.0", assets=["a.tar.gz", "b.tar.gz"], body="notes")
    release = await client.get_release_by_tag("aztec-packages-v0.62.0")
    assert release is not None
    assert [a.name for a in release.assets] == ["a.tar.gz", "b.tar.gz"]
    assert release.body == "notes"


async def test_a_push_to_a_release_branch_starts_a_run_that_moves_along(
    client: GitHubClient, gh: ReleaseGitHubFake, remote: SeededRemote, tmp_path: Path
) -> None:
    assert await client.list_workflow_runs(workflow="release-please.yml") == []
    work = tmp_path / "work"
    git(tmp_path, "clone", "--quiet", remote.file_url, str(work))
    git(work, "push", "--quiet", "origin", "master:aztec-packages-v0.62.0", "master:unrelated")
    runs = await client.list_workflow_runs(
        workflow="release-please.yml", branch="aztec-packages-v0.62.0"
    )
    assert len(runs) == 1 and runs[0].status == "queued" and runs[0].event == "push"
    assert runs[0].head_sha == remote.rev("master")
    gh.move_run(runs[0].id, "in_progress")
    assert (await client.get_workflow_run(runs[0].id)).status == "in_progress"
    gh.move_run(runs[0].id, "completed", "success")
    done = await client.get_workflow_run(runs[0].id)
    assert (done.status, done.conclusion) == ("completed", "success")
    assert len(await client.list_workflow_runs(workflow="release-please.yml")) == 1


async def test_workflow_dispatch_starts_a_run_and_refuses_bad_requests(
    client: GitHubClient, gh: ReleaseGitHubFake
) -> None:
    await client.dispatch_workflow(
        "deploy-network.yml", ref="master", inputs={"version": "v0.62.0", "network": "alpha"}
    )
    assert gh.dispatches == [
        {
            "workflow": "deploy-network.yml",
            "ref": "master",
            "inputs": {"version": "v0.62.0", "network": "alpha"},
        }
    ]
    runs = await client.list_workflow_runs(workflow="deploy-network.yml", event="workflow_dispatch")
    assert len(runs) == 1 and runs[0].head_branch == "master"
    with pytest.raises(GitHubPermanentError) as unknown_input:
        await client.dispatch_workflow("deploy-network.yml", ref="master", inputs={"oops": "1"})
    assert unknown_input.value.status == 422
    with pytest.raises(GitHubPermanentError) as no_ref:
        await client.dispatch_workflow("deploy-network.yml", ref="no-such-branch")
    assert no_ref.value.status == 422
    with pytest.raises(GitHubPermanentError) as no_workflow:
        await client.dispatch_workflow("nope.yml", ref="master")
    assert no_workflow.value.status == 404
    assert len(gh.dispatches) == 1
