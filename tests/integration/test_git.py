"""The git layer against a real bare repository, served by ``git http-backend`` behind Basic
auth: clone, release branch, cherry-picks (merge and squash commits) with ``-x``, a
conflict that changes nothing, the empty release commit and its push, refused
credentials, timeouts, and the token kept out of argv, ``.git/config`` and logs."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from integrations.git import (
    BranchExists,
    CherryPickConflict,
    CherryPickEmpty,
    GitAuthError,
    GitError,
    GitIdentity,
    GitRepo,
    GitTimeout,
    PushRejected,
    UnknownRevision,
)
from tests.binaries import require_binary
from tests.fakes.git_remote import (
    BASE_TAG,
    CONFLICT_FILE,
    DEFAULT_BRANCH,
    GitHttpServer,
    SeededRemote,
    git,
    seed_remote,
)
from tests.harness import wait_until

TOKEN = "ghs_Rel3aseT0kenThatMustNeverLeak42"
IDENTITY = GitIdentity("testnet-bot", "testnet-bot@aztec.example")
BRANCH = "aztec-packages-v0.61.1"


@pytest.fixture
def remote(tmp_path: Path) -> SeededRemote:
    require_binary("git")
    return seed_remote(tmp_path / "remote")


@pytest.fixture
async def server(remote: SeededRemote) -> AsyncIterator[GitHttpServer]:
    async with GitHttpServer(remote.root, token=TOKEN) as fake:
        yield fake


async def clone(
    server: GitHttpServer, remote: SeededRemote, workdir: Path, token: str | None = TOKEN, **kw: object
) -> GitRepo:
    return await GitRepo.clone_or_fetch(
        server.url_for(remote.name), workdir, identity=IDENTITY, token=token, timeout=30, **kw  # type: ignore[arg-type]
    )


def descendants() -> dict[int, tuple[list[str], dict[str, str]]]:
    """argv and environment of every live process below this one (what `ps` shows)."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry)] = int(fields[1])
    mine = {os.getpid()}
    changed = True
    while changed:
        changed = False
        for pid, ppid in parent.items():
            if ppid in mine and pid not in mine:
                mine.add(pid)
                changed = True
    mine.discard(os.getpid())
    seen: dict[int, tuple[list[str], dict[str, str]]] = {}
    for pid in mine:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv = [a.decode(errors="replace") for a in handle.read().split(b"\0") if a]
            with open(f"/proc/{pid}/environ", "rb") as handle:
                pairs = [e.decode(errors="replace") for e in handle.read().split(b"\0") if e]
        except OSError:
            continue
        if argv:
            seen[pid] = (argv, dict(p.split("=", 1) for p in pairs if "=" in p))
    return seen


def askpass_facts(path: Path) -> tuple[int, int, str]:
    """The askpass script's mode, its directory's mode and its text."""
    return (
        stat.S_IMODE(path.stat().st_mode),
        stat.S_IMODE(path.parent.stat().st_mode),
        path.read_text(),
    )


# --------------------------------------------------------------------------- picks


async def test_merged_prs_are_picked_with_x_trailers_and_pushed_to_the_release_branch(
    remote: SeededRemote, server: GitHttpServer, tmp_path: Path
) -> None:
    repo = await clone(server, remote, tmp_path / "clone")
    base = await repo.create_branch(BRANCH, BASE_TAG)
    assert base == remote.base
    picks = [remote.merges[101], remote.merges[102], remote.squashes[103]]
    new = await repo.cherry_pick(picks)
    assert len(new) == 3
    # Nothing reaches the remote before the push.
    assert remote.rev(BRANCH) == ""
    await repo.push(BRANCH)

    history = remote.log(BRANCH, 4)  # as git sees the bare repository
    assert [sha for sha, _, _ in history] == [*reversed(new), remote.base]
    for (_, message, parents), picked in zip(history[:3], reversed(picks), strict=True):
        assert message.endswith(f"(cherry picked from commit {picked})")
        assert len(parents) == 1  # a merge commit picked with -m 1 is an ordinary commit
    assert "fix: prover agent timeout" in history[1][1]
    assert history[0][1].startswith("fix(docs): sandbox install steps (#103)")
    # The picked changes are on the branch; the unpicked PRs' are not.
    files = git(remote.path, "ls-tree", "-r", "--name-only", BRANCH).split()
    assert "yarn-project/p2p/src/reconnect.ts" in files
    assert "docs/docs/sandbox.md" in files
    assert git(remote.path, "show", f"{BRANCH}:{CONFLICT_FILE}") != git(
        remote.path, "show", f"{DEFAULT_BRANCH}:{CONFLICT_FILE}"
    )
    commits = await repo.log(BRANCH, 3)
    assert [c.picked_from for c in commits] == [[p] for p in reversed(picks)]
    assert {(c.committer_name, c.committer_email) for c in commits} == {(IDENTITY.name, IDENTITY.email)}
    assert commits[2].author_email == "dev@aztec.example"  # authorship of the PR is kept


async def test_a_conflicting_pick_leaves_the_branch_exactly_as_it_was_and_names_the_file(
    remote: SeededRemote, server: GitHttpServer, tmp_path: Path
) -> None:
    repo = await clone(server, remote, tmp_path / "clone")
    await repo.create_branch(BRANCH, BASE_TAG)
    (first,) = await repo.cherry_pick([remote.merges[101]])
    status_before = git(repo.workdir, "status", "--porcelain", "--untracked-files=all")

    with pytest.raises(CherryPickConflict) as caught:
        await repo.cherry_pick([remote.merges[102], remote.conflicting])
    assert caught.value.files == [CONFLICT_FILE]
    assert caught.value.sha == remote.conflicting
    assert CONFLICT_FILE in str(caught.value)
    # The earlier pick of the same call is undone too; nothing is in progress.
    assert await repo.rev_parse("HEAD") == first
    assert await repo.current_branch() == BRANCH
    assert git(repo.workdir, "status", "--porcelain", "--untracked-files=all") == status_before == ""
    assert not (repo.workdir / ".git" / "CHERRY_PICK_HEAD").exists()
    assert not (repo.workdir / ".git" / "sequencer").exists()

    # The good case next to it: the same branch still takes a clean pick.
    (second,) = await repo.cherry_pick([remote.merges[102]])
    assert (await repo.log(BRANCH, 1))[0].sha == second


async def test_picking_a_change_the_branch_has_already_is_refused_and_changes_nothing(
    remote: SeededRemote, server: GitHttpServer, tmp_path: Path
) -> None:
    repo = await clone(server, remote, tmp_path / "clone")
    await repo.create_branch(BRANCH, BASE_TAG)
    (head,) = await repo.cherry_pick([remote.squashes[103]])
    with pytest.raises(CherryPickEmpty) as caught:
        await repo.cherry_pick([remote.squashes[103]])
    assert caught.value.sha == remote.squashes[103]
    assert await repo.rev_parse("HEAD") == head
    with pytest.raises(UnknownRevision, match="deadbeef"):
        await repo.cherry_pick(["deadbeef" * 5])
    assert await repo.rev_parse("HEAD") == head


async def test_an_empty_commit_is_pushed_and_a_stale_branch_is_rejected(
    remote: SeededRemote, server: GitHttpServer, tmp_path: Path
) -> None:
    repo = await clone(server, remote, tmp_path / "clone")
    await repo.create_branch(BRANCH, BASE_TAG)
    sha = await repo.commit_empty("chore: release 0.61.1\n\n#103 and #106 included; triggers the release workflow.")
    await repo.push(BRANCH)
    assert remote.rev(BRANCH) == sha
    (commit, parent) = remote.log(BRANCH, 2)
    assert commit[1] == "chore: release 0.61.1\n\n#103 and #106 included; triggers the release workflow."
    assert git(remote.path, "rev-parse", f"{sha}^{{tree}}") == git(remote.path, "rev-parse", f"{parent[0]}^{{tree}}")
    assert git(remote.path, "log", "-1", "--format=%an <%ae>", BRANCH).strip() == "testnet-bot <testnet-bot@aztec.example>"

    # A second clone moves the branch on; the first one's next push is not a fast-forward.
    other = await clone(server, remote, tmp_path / "other")
    await other.checkout_branch(BRANCH)
    moved = await other.commit_empty("chore: someone else")
    await other.push(BRANCH)
    await repo.commit_empty("chore: stale")
    with pytest.raises(PushRejected):
        await repo.push(BRANCH)
    assert remote.rev(BRANCH) == moved


async def test_existing_branches_are_refused_locally_and_on_the_remote(
    remote: SeededRemote, server: GitHttpServer, tmp_path: Path
) -> None:
    repo = await clone(server, remote, tmp_path / "clone")
    with pytest.raises(BranchExists, match=DEFAULT_BRANCH):
        await repo.create_branch(DEFAULT_BRANCH, BASE_TAG)
    await repo.create_branch(BRANCH, BASE_TAG)
    await repo.push(BRANCH)
    fresh = await clone(server, remote, tmp_path / "fresh")
    assert await fresh.remote_branch_exists(BRANCH) is True
    assert await fresh.remote_branch_exists("aztec-packages-v9.9.9") is False
    git(remote.path, "branch", "aztec-packages-v0.61.2", remote.base)  # pushed after the clone
    with pytest.raises(BranchExists):
        await fresh.create_branch("aztec-packages-v0.61.2", BASE_TAG)
    with pytest.raises(ValueError, match="branch name"):
        await fresh.create_branch("bad..name", BASE_TAG)
    assert remote.branches() == sorted([DEFAULT_BRANCH, BRANCH, "aztec-packages-v0.61.2"])


# --------------------------------------------------------------------------- credentials


async def test_a_wrong_or_missing_token_is_refused_and_never_quoted(
    remote: SeededRemote, server: GitHttpServer, tmp_path: Path
) -> None:
    wrong = "ghs_WrongTokenWrongTokenWrong000"
    with pytest.raises(GitAuthError) as caught:
        await clone(server, remote, tmp_path / "wrong", token=wrong)
    assert wrong not in str(caught.value) and TOKEN not in str(caught.value)
    assert "refused the credentials" in str(caught.value)
    assert not (tmp_path / "wrong").exists()  # no half clone left behind
    with pytest.raises(GitAuthError):
        await clone(server, remote, tmp_path / "none", token=None)
    assert server.count(200) == 0

    repo = await clone(server, remote, tmp_path / "good")
    await repo.create_branch(BRANCH, BASE_TAG)
    await repo.commit_empty("chore: release")
    with pytest.raises(GitAuthError):
        await dataclasses.replace(repo, token=wrong).push(BRANCH)
    assert remote.rev(BRANCH) == ""
    await repo.push(BRANCH)
    assert remote.rev(BRANCH) != ""


async def test_the_token_never_appears_in_argv_git_config_or_logs(
    remote: SeededRemote, server: GitHttpServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="integrations.git")
    repo = await clone(server, remote, tmp_path / "clone")
    await repo.create_branch(BRANCH, BASE_TAG)
    await repo.cherry_pick([remote.merges[101]])

    server.hold()  # git stays mid-request while we look at its processes
    push = asyncio.create_task(repo.push(BRANCH), name="git-push")
    try:
        await server.wait_for_held()
        processes = descendants()
        helpers = [(a, e) for a, e in processes.values() if any("remote-http" in x for x in a)]
        assert helpers, f"expected git-remote-http among {[a for a, _ in processes.values()]}"
        # The token travels in the git processes' environment, to a private askpass script.
        argv, env = helpers[0]
        askpass = Path(env["GIT_ASKPASS"])
        script_mode, dir_mode, script = askpass_facts(askpass)
    finally:
        server.release()
        await push

    assert server.url_for(remote.name) in " ".join(argv)
    assert not [a for a, _ in processes.values() if any(TOKEN in x for x in a)]
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert TOKEN in env.values() and TOKEN not in script
    assert (script_mode, dir_mode) == (0o700, 0o700)
    assert not askpass.parent.exists()  # removed once the command finished

    config = (repo.workdir / ".git" / "config").read_text()
    assert server.url_for(remote.name) in config and TOKEN not in config
    assert "git push" in caplog.text and TOKEN not in caplog.text
    assert repo.commands and not [c for c in repo.commands if any(TOKEN in a for a in c)]
    assert TOKEN not in repr(repo)
    assert remote.rev(BRANCH) == await repo.rev_parse(BRANCH)


async def test_urls_with_credentials_or_the_file_scheme_are_refused_before_anything_runs(
    remote: SeededRemote, server: GitHttpServer, tmp_path: Path
) -> None:
    leaky = server.url_for(remote.name).replace("http://", f"http://x-access-token:{TOKEN}@")
    with pytest.raises(ValueError, match="must not carry credentials") as caught:
        await GitRepo.clone_or_fetch(leaky, tmp_path / "leaky", identity=IDENTITY)
    assert TOKEN not in str(caught.value)
    with pytest.raises(ValueError, match="file://"):
        await GitRepo.clone_or_fetch(remote.file_url, tmp_path / "file", identity=IDENTITY)
    assert not (tmp_path / "leaky").exists() and not (tmp_path / "file").exists()
    assert server.requests == []


# --------------------------------------------------------------------------- clone, fetch, errors


async def test_clone_or_fetch_updates_an_existing_clone_and_refuses_a_foreign_directory(
    remote: SeededRemote, tmp_path: Path
) -> None:
    workdir = tmp_path / "clone"
    repo = await GitRepo.clone_or_fetch(remote.file_url, workdir, identity=IDENTITY, allow_file_protocol=True)
    before = await repo.rev_parse(f"origin/{DEFAULT_BRANCH}")
    moved = remote.push_commit(tmp_path / "elsewhere", DEFAULT_BRANCH, "NOTES.md", "later\n", "docs: later")
    assert await repo.rev_parse(f"origin/{DEFAULT_BRANCH}") == before
    again = await GitRepo.clone_or_fetch(remote.file_url, workdir, identity=IDENTITY, allow_file_protocol=True)
    assert await again.rev_parse(f"origin/{DEFAULT_BRANCH}") == moved
    assert [c.subject for c in await again.log(f"origin/{DEFAULT_BRANCH}", 2)] == [
        "docs: later",
        "fix: raise the default peer limit (#106)",
    ]

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine\n")
    with pytest.raises(GitError, match="not a git clone"):
        await GitRepo.clone_or_fetch(remote.file_url, foreign, identity=IDENTITY, allow_file_protocol=True)
    assert (foreign / "keep.txt").read_text() == "mine\n"


async def test_errors_name_the_command_and_quote_stderr(remote: SeededRemote, tmp_path: Path) -> None:
    repo = await GitRepo.clone_or_fetch(
        remote.file_url, tmp_path / "clone", identity=IDENTITY, allow_file_protocol=True
    )
    with pytest.raises(UnknownRevision, match="no-such-branch"):
        await repo.rev_parse("no-such-branch")
    with pytest.raises(GitError) as caught:
        await repo.push("no-such-branch")
    assert "git push origin refs/heads/no-such-branch" in str(caught.value)
    assert "does not match any" in caught.value.stderr_tail
    assert caught.value.returncode == 1
    with pytest.raises(ValueError):
        GitIdentity("testnet-bot", "not-an-email")
    assert GitIdentity.parse(" testnet-bot <bot@aztec.example> ") == GitIdentity("testnet-bot", "bot@aztec.example")
    for bad in ("testnet-bot", "<bot@aztec.example>", "bot <not-an-email>", "a <b@c> <d@e>"):
        with pytest.raises(ValueError):
            GitIdentity.parse(bad)


async def test_a_hung_remote_times_out_and_leaves_no_git_process(
    remote: SeededRemote, server: GitHttpServer, tmp_path: Path
) -> None:
    repo = await clone(server, remote, tmp_path / "clone")
    impatient = dataclasses.replace(repo, timeout=1.0)
    server.hold()
    with pytest.raises(GitTimeout, match="took longer than 1s"):
        await impatient.remote_branch_exists(BRANCH)
    await wait_until(
        lambda: not any("remote-http" in " ".join(a) for a, _ in descendants().values()),
        what="the killed git processes to be gone",
    )
    server.release()
    assert await repo.remote_branch_exists(DEFAULT_BRANCH) is True
