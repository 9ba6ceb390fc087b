"""GitHub's release-side REST API over a real bare repository.

:class:`ReleaseGitHubFake` is :class:`~tests.fakes.github_api.GitHubFake` with its refs,
commits and compare endpoints answered from a bare git repository through git plumbing
(``for-each-ref``, ``update-ref``, ``cat-file``, ``rev-list``), so what the API says and
what ``git`` sees on the remote always agree. It adds pull requests with merge commits,
releases with assets, ``workflow_dispatch`` and single workflow runs::

    remote = seed_remote(tmp_path / "remote")
    async with ReleaseGitHubFake(token="t", repo="AztecProtocol/aztec-packages",
                                 git_dir=remote.path,
                                 push_workflows={"aztec-packages-v": "release-please.yml"}) as gh:
        gh.add_pull(101, "fix: p2p", merge_commit_sha=remote.merges[101])
        ...
        run = gh.runs_of("release-please.yml")[0]
        gh.move_run(run.id, "completed", "success")

Every push to a branch starting with a ``push_workflows`` prefix (seen through the
bare repository's ``post-receive`` hook) or a branch created through the API starts a
run of that workflow (``event: push``), as GitHub does. Tests move runs through ``queued → in_progress → completed``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes.git_remote import git
from tests.fakes.github_api import (
    FakeIssue,
    FakeWorkflowRun,
    GitHubFake,
    _http_error,
    _json,
    _json_body,
)

MAX_DISPATCH_INPUTS = 25
"""GitHub: a ``workflow_dispatch`` takes at most 25 inputs."""


@dataclass
class FakePull:
    """A pull request: merged ones carry the commit their merge made on ``base``."""

    number: int
    base: str = "master"
    merged: bool = False
    merge_commit_sha: str | None = None


@dataclass
class FakeRelease:
    """A published (or draft) release of a tag, with its assets' names."""

    id: int
    tag: str
    name: str
    body: str
    assets: list[str] = field(default_factory=list)
    draft: bool = False


class ReleaseGitHubFake(GitHubFake):
    """See the module docstring."""

    def __init__(
        self,
        *,
        token: str,
        repo: str,
        git_dir: Path,
        push_workflows: dict[str, str] | None = None,
        workflow_inputs: dict[str, set[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(token=token, repo=repo, **kwargs)
        self.git_dir = git_dir
        self.push_workflows = dict(push_workflows or {})
        self.workflow_inputs = dict(workflow_inputs or {})
        """Workflow file → the inputs it declares (a dispatch with others is 422)."""
        self.pulls: dict[int, FakePull] = {}
        self.releases: dict[str, FakeRelease] = {}
        self.dispatches: list[dict[str, Any]] = []
        """Bodies of accepted ``workflow_dispatch`` requests, with ``workflow``."""
        self._push_log = git_dir / "pushes.log"
        self._push_offset = 0
        for workflow in set(self.push_workflows.values()) | set(self.workflow_inputs):
            self.workflows.setdefault(workflow, 7_000 + len(self.workflows))

    async def __aenter__(self) -> ReleaseGitHubFake:
        hook = self.git_dir / "hooks" / "post-receive"
        hook.parent.mkdir(exist_ok=True)
        hook.write_text(f"#!/bin/sh\ncat >> '{self._push_log}'\n")
        hook.chmod(0o755)
        self._push_offset = self._push_log.stat().st_size if self._push_log.exists() else 0
        await super().__aenter__()
        return self

    # ------------------------------------------------------------ test controls

    def add_pull(
        self,
        number: int,
        title: str,
        *,
        merge_commit_sha: str | None = None,
        labels: list[str] | None = None,
        base: str = "master",
    ) -> FakeIssue:
        """Store pull request ``number``; with ``merge_commit_sha`` it is merged (closed)."""
        issue = FakeIssue(
            number=number,
            title=title,
            body="",
            labels=list(labels or []),
            is_pull_request=True,
            state="closed" if merge_commit_sha else "open",
        )
        self.issues[number] = issue
        self.pulls[number] = FakePull(number, base, bool(merge_commit_sha), merge_commit_sha)
        return issue

    def add_release(
        self, tag: str, *, assets: list[str], body: str = "", draft: bool = False
    ) -> FakeRelease:
        """Publish a release of ``tag`` carrying ``assets`` (names)."""
        release = FakeRelease(
            id=next(self._ids), tag=tag, name=tag, body=body, assets=list(assets), draft=draft
        )
        self.releases[tag] = release
        return release

    def runs_of(self, workflow: str) -> list[FakeWorkflowRun]:
        """Runs of ``workflow`` (after noticing pushes), newest first."""
        self._notice_pushes()
        wid = self.workflows.get(workflow)
        return sorted(
            (r for r in self.workflow_runs.values() if r.workflow_id == wid),
            key=lambda r: r.id,
            reverse=True,
        )

    def move_run(self, run_id: int, status: str, conclusion: str | None = None) -> None:
        """Move a run along (``in_progress``, then ``completed`` with a conclusion)."""
        run = self.workflow_runs[run_id]
        run.status, run.conclusion = status, conclusion

    # ------------------------------------------------------------ git plumbing

    def _git(self, *args: str) -> str:
        return git(self.git_dir, *args)

    def _resolve(self, rev: str) -> str | None:
        try:
            return self._git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").strip()
        except RuntimeError:
            return None

    def _notice_pushes(self) -> None:
        """Start a push run for every push (the bare repository's ``post-receive`` hook
        logs each ref update) to a branch a push workflow watches."""
        if not self._push_log.exists():
            return
        with self._push_log.open() as log:
            log.seek(self._push_offset)
            lines = log.read().splitlines()
            self._push_offset = log.tell()
        for line in lines:
            _old, new, ref = line.split()
            self._pushed(ref, new)

    def _pushed(self, ref: str, sha: str) -> None:
        branch = ref.removeprefix("refs/heads/")
        if branch == ref or set(sha) == {"0"}:
            return  # a tag, or a deleted branch
        for prefix, workflow in self.push_workflows.items():
            if branch.startswith(prefix):
                self.add_workflow_run(workflow=workflow, branch=branch, head_sha=sha)

    # ------------------------------------------------------------ routes

    def _add_routes(self, app: web.Application) -> None:
        p, repo = self.prefix, "/repos/{owner}/{repo}"
        r = app.router
        r.add_get(p + repo + "/git/ref/{ref:.+}", self._git_get_ref)
        r.add_post(p + repo + "/git/refs", self._git_create_ref)
        r.add_get(p + repo + "/commits/{ref:.+}", self._git_get_commit)
        r.add_get(p + repo + "/compare/{basehead:.+}", self._git_compare)
        r.add_get(p + repo + "/pulls/{number:\\d+}", self._get_pull)
        r.add_get(p + repo + "/releases/tags/{tag:.+}", self._get_release)
        r.add_get(p + repo + "/actions/runs/{run_id:\\d+}", self._get_run)
        r.add_post(p + repo + "/actions/workflows/{workflow_id}/dispatches", self._dispatch)
        super()._add_routes(app)

    async def _list_runs(self, request: web.Request) -> web.Response:
        self._notice_pushes()
        return await super()._list_runs(request)

    async def _git_get_ref(self, request: web.Request) -> web.Response:
        self._check_repo(request)
        ref = "refs/" + request.match_info["ref"]
        sha = await asyncio.to_thread(self._resolve, ref)
        if sha is None:
            raise _http_error(404, "Not Found")
        self.refs[ref] = sha
        return _json(self._ref_json(request, ref))

    async def _git_create_ref(self, request: web.Request) -> web.Response:
        self._check_repo(request)
        data = await _json_body(request)
        ref, sha = data.get("ref"), data.get("sha")
        if not isinstance(ref, str) or not ref.startswith("refs/") or ref.count("/") < 2:
            raise _http_error(
                422, "Reference name must start with 'refs/' and have at least two slashes."
            )
        if not isinstance(sha, str) or await asyncio.to_thread(self._resolve, sha) != sha:
            raise _http_error(422, "Object does not exist")
        if await asyncio.to_thread(self._resolve, ref) is not None:
            raise _http_error(422, "Reference already exists")
        await asyncio.to_thread(self._git, "update-ref", ref, sha, "0" * 40)
        self.refs[ref] = sha
        self._notice_pushes()
        self._pushed(ref, sha)  # a branch created through the API is a push too
        return _json(self._ref_json(request, ref), status=201)

    async def _git_get_commit(self, request: web.Request) -> web.Response:
        self._check_repo(request)
        wanted = request.match_info["ref"]
        sha = await asyncio.to_thread(self._resolve, wanted)
        if sha is None:
            raise _http_error(422, f"No commit found for SHA: {wanted}")
        return _json(await asyncio.to_thread(self._commit_json, request, sha))

    def _commit_json(self, request: web.Request, sha: str) -> dict[str, Any]:
        raw = self._git("show", "-s", "--format=%P%x00%an%x00%ae%x00%aI%x00%B", sha)
        parents, name, email, date, message = raw.split("\x00", 4)
        base = f"{self._api_base(request)}/repos/{self.repo}"
        person = {"name": name, "email": email, "date": date}
        return {
            "sha": sha,
            "node_id": f"C_{sha[:12]}",
            "url": f"{base}/commits/{sha}",
            "html_url": f"{self.html_url}/{self.repo}/commit/{sha}",
            "commit": {"message": message.rstrip("\n"), "author": person, "committer": person},
            "parents": [{"sha": s, "url": f"{base}/commits/{s}"} for s in parents.split()],
        }

    async def _git_compare(self, request: web.Request) -> web.Response:
        self._check_repo(request)
        base_rev, sep, head_rev = request.match_info["basehead"].partition("...")
        if not sep:
            raise _http_error(404, "Not Found")
        base = await asyncio.to_thread(self._resolve, base_rev)
        head = await asyncio.to_thread(self._resolve, head_rev)
        if base is None or head is None:
            raise _http_error(404, "Not Found")

        def counts() -> tuple[int, int, list[str]]:
            out = self._git("rev-list", "--left-right", "--count", f"{base}...{head}").split()
            shas = self._git("rev-list", "--reverse", f"{base}..{head}").split()
            return int(out[0]), int(out[1]), shas

        behind, ahead, shas = await asyncio.to_thread(counts)
        status = (
            "identical"
            if not ahead and not behind
            else "ahead"
            if not behind
            else "behind"
            if not ahead
            else "diverged"
        )
        commits = [await asyncio.to_thread(self._commit_json, request, s) for s in shas[:250]]
        return _json(
            {
                "status": status,
                "ahead_by": ahead,
                "behind_by": behind,
                "total_commits": ahead,
                "commits": commits,
            }
        )

    async def _get_pull(self, request: web.Request) -> web.Response:
        self._check_repo(request)
        number = int(request.match_info["number"])
        pull, issue = self.pulls.get(number), self.issues.get(number)
        if pull is None or issue is None:
            raise _http_error(404, "Not Found")
        return _json(
            {
                **self._issue_json(issue),
                "merged": pull.merged,
                "merged_at": issue.updated_at if pull.merged else None,
                "merge_commit_sha": pull.merge_commit_sha,
                "base": {"ref": pull.base},
                "html_url": f"{self.html_url}/{self.repo}/pull/{number}",
            }
        )

    def _issue_json(self, issue: FakeIssue) -> dict[str, Any]:
        data = super()._issue_json(issue)
        pull = self.pulls.get(issue.number)
        if pull is not None and issue.is_pull_request:
            data["pull_request"]["merged_at"] = issue.updated_at if pull.merged else None
        return data

    async def _get_release(self, request: web.Request) -> web.Response:
        self._check_repo(request)
        release = self.releases.get(request.match_info["tag"])
        if release is None or release.draft:
            raise _http_error(404, "Not Found")
        page = f"{self.html_url}/{self.repo}/releases"
        return _json(
            {
                "id": release.id,
                "tag_name": release.tag,
                "name": release.name,
                "body": release.body,
                "draft": release.draft,
                "prerelease": False,
                "html_url": f"{page}/tag/{release.tag}",
                "assets": [
                    {
                        "id": release.id * 100 + i,
                        "name": name,
                        "state": "uploaded",
                        "size": 1024,
                        "browser_download_url": f"{page}/download/{release.tag}/{name}",
                    }
                    for i, name in enumerate(release.assets)
                ],
            }
        )

    async def _get_run(self, request: web.Request) -> web.Response:
        self._check_repo(request)
        self._notice_pushes()
        run = self.workflow_runs.get(int(request.match_info["run_id"]))
        if run is None:
            raise _http_error(404, "Not Found")
        return _json(self._run_json(run))

    async def _dispatch(self, request: web.Request) -> web.Response:
        self._check_repo(request)
        workflow = request.match_info["workflow_id"]
        if workflow not in self.workflows:
            raise _http_error(404, "Not Found")
        data = await _json_body(request)
        ref, inputs = data.get("ref"), data.get("inputs", {})
        if not isinstance(ref, str) or not ref:
            raise _http_error(422, 'Invalid request.\n\n"ref" wasn\'t supplied.')
        if not isinstance(inputs, dict) or not all(
            isinstance(v, str | int | bool) for v in inputs.values()
        ):
            raise _http_error(422, "Invalid request.\n\nFor 'properties/inputs', not an object.")
        if len(inputs) > MAX_DISPATCH_INPUTS:
            raise _http_error(422, f"you may only define up to {MAX_DISPATCH_INPUTS} inputs")
        declared = self.workflow_inputs.get(workflow)
        unexpected = sorted(set(inputs) - declared) if declared is not None else []
        if unexpected:
            raise _http_error(422, f"Unexpected inputs provided: {unexpected}")
        branch = ref.removeprefix("refs/heads/")
        sha = await asyncio.to_thread(self._resolve, ref)
        if sha is None:
            raise _http_error(422, f"No ref found for: {ref}")
        self.dispatches.append({"workflow": workflow, "ref": ref, "inputs": dict(inputs)})
        self.add_workflow_run(
            workflow=workflow, branch=branch, head_sha=sha, event="workflow_dispatch"
        )
        return web.Response(status=204)
