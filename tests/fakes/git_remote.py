"""A real bare git repository seeded with a release history, and a smart-HTTP server for it.

::

    remote = seed_remote(tmp_path / "remote")          # git init --bare + history
    async with GitHttpServer(remote.root, token="s3cret") as server:
        url = server.url_for(remote.name)                # http://127.0.0.1:PORT/aztec-packages.git
        ...
    remote.log("aztec-packages-v0.61.1")                 # what git itself sees on the remote

The history on ``master`` (every commit dated, so shas are stable within a run):

- ``initial`` … tag ``aztec-packages-v0.61.0`` (annotated) — where a release branch starts;
- PR #101 and PR #102 merged with ``--no-ff`` (merge commits, one feature commit each);
- PR #103 squash-merged (one ordinary commit, subject ending ``(#103)``);
- PR #105 rewrites ``yarn-project/foundation/src/config.ts``, PR #106 then fixes a line of
  the rewritten file: picking #106 alone onto the tag conflicts in that file;
- tag ``aztec-packages-v0.61.1-rc`` (lightweight) on the head.

:class:`GitHttpServer` runs ``git http-backend`` (git's own smart-HTTP CGI program) behind
an aiohttp handler that demands HTTP Basic credentials whose password is the token, as
GitHub does for a private repository: no or wrong credentials answer 401 with
``WWW-Authenticate: Basic``. Pushes are allowed for authenticated users. Every request is
recorded; :meth:`GitHttpServer.hold` keeps requests waiting until released, so a test can
look at the client's processes while git is mid-request.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from tests.fakes.serving import serve

DEFAULT_BRANCH = "master"
BASE_TAG = "aztec-packages-v0.61.0"
HEAD_TAG = "aztec-packages-v0.61.1-rc"
CONFLICT_FILE = "yarn-project/foundation/src/config.ts"
SEED_AUTHOR = ("Aztec Dev", "dev@aztec.example")


def git(cwd: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    """Run git synchronously in ``cwd`` (fixture set-up only) and return its stdout."""
    full_env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": SEED_AUTHOR[0],
        "GIT_AUTHOR_EMAIL": SEED_AUTHOR[1],
        "GIT_COMMITTER_NAME": SEED_AUTHOR[0],
        "GIT_COMMITTER_EMAIL": SEED_AUTHOR[1],
        **(env or {}),
    }
    done = subprocess.run(
        ["git", "-c", "protocol.file.allow=always", *args],
        cwd=cwd,
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


@dataclass
class SeededRemote:
    """The bare repository and the shas a test needs."""

    root: Path
    name: str
    merges: dict[int, str] = field(default_factory=dict)
    """PR number → merge commit (``--no-ff``)."""
    squashes: dict[int, str] = field(default_factory=dict)
    """PR number → squash commit."""
    conflicting: str = ""
    """A commit (PR #106) that conflicts when picked onto :data:`BASE_TAG`."""
    base: str = ""
    """The commit :data:`BASE_TAG` points at."""

    @property
    def path(self) -> Path:
        """The bare repository's directory."""
        return self.root / f"{self.name}.git"

    @property
    def file_url(self) -> str:
        """A ``file://`` URL of the bare repository."""
        return self.path.as_uri()

    def rev(self, ref: str) -> str:
        """The sha ``ref`` names in the bare repository (``""`` if none)."""
        try:
            return git(self.path, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
        except RuntimeError:
            return ""

    def log(self, ref: str, n: int = 20) -> list[tuple[str, str, list[str]]]:
        """``(sha, full message, parents)`` of ``ref``'s newest ``n`` commits, as git sees them."""
        out = git(self.path, "log", f"-n{n}", "--format=%H%x00%P%x00%B%x1e", ref)
        rows = []
        for record in out.split("\x1e"):
            record = record.lstrip("\n")
            if record:
                sha, parents, message = record.split("\x00", 2)
                rows.append((sha, message.rstrip("\n"), parents.split()))
        return rows

    def branches(self) -> list[str]:
        """The bare repository's branch names."""
        out = git(self.path, "for-each-ref", "--format=%(refname:short)", "refs/heads")
        return sorted(out.split())

    def push_commit(self, work: Path, branch: str, path: str, content: str, message: str) -> str:
        """Commit ``content`` to ``path`` on ``branch`` from another clone and push it."""
        if not work.exists():
            git(self.root, "clone", "--quiet", self.file_url, str(work))
        git(work, "fetch", "--quiet", "origin")
        git(work, "checkout", "--quiet", "-B", branch, f"origin/{branch}")
        _write(work, path, content)
        git(work, "add", "-A")
        git(work, "commit", "--quiet", "-m", message)
        git(work, "push", "--quiet", "origin", f"{branch}:{branch}")
        return git(work, "rev-parse", "HEAD").strip()


def _write(work: Path, relative: str, content: str) -> None:
    target = work / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content)


CONFIG_V1 = "export const config = {\n  port: 8080,\n  peers: 10,\n};\n"
CONFIG_V2 = (
    "export interface Config {\n  port: number;\n  maxPeers: number;\n}\n\n"
    "export const config: Config = {\n  port: 8080,\n  maxPeers: 10,\n};\n"
)
CONFIG_V3 = CONFIG_V2.replace("maxPeers: 10", "maxPeers: 40")


def seed_remote(root: Path, name: str = "aztec-packages") -> SeededRemote:
    """Create ``root/<name>.git`` (bare) with the history in the module docstring."""
    root.mkdir(parents=True, exist_ok=True)
    remote = SeededRemote(root=root, name=name)
    git(root, "init", "--quiet", "--bare", f"--initial-branch={DEFAULT_BRANCH}", str(remote.path))
    work = root / f"{name}-seed"
    git(root, "init", "--quiet", f"--initial-branch={DEFAULT_BRANCH}", str(work))
    clock = iter(range(1_700_000_000, 1_700_100_000, 60))

    def commit(message: str, *files: tuple[str, str]) -> str:
        for path, content in files:
            _write(work, path, content)
        git(work, "add", "-A")
        stamp = f"@{next(clock)} +0000"
        git(work, "commit", "--quiet", "-m", message,
            env={"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp})
        return git(work, "rev-parse", "HEAD").strip()

    def merge_pr(number: int, title: str, path: str, content: str) -> str:
        branch = f"pr-{number}"
        git(work, "checkout", "--quiet", "-b", branch, DEFAULT_BRANCH)
        commit(title, (path, content))
        git(work, "checkout", "--quiet", DEFAULT_BRANCH)
        stamp = f"@{next(clock)} +0000"
        git(work, "merge", "--quiet", "--no-ff", "-m",
            f"Merge pull request #{number} from AztecProtocol/{branch}\n\n{title}", branch,
            env={"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp})
        git(work, "branch", "--quiet", "-D", branch)
        return git(work, "rev-parse", "HEAD").strip()

    commit("chore: initial", ("README.md", "# aztec-packages\n"), ("VERSION", "0.61.0\n"),
           (CONFLICT_FILE, CONFIG_V1))
    remote.base = commit("chore(release): 0.61.0", ("CHANGELOG.md", "## 0.61.0\n"))
    git(work, "tag", "-a", BASE_TAG, "-m", "Release 0.61.0")
    remote.merges[101] = merge_pr(101, "fix: p2p reconnects after a peer drops",
                                  "yarn-project/p2p/src/reconnect.ts", "export const retries = 5;\n")
    remote.merges[102] = merge_pr(102, "fix: prover agent timeout",
                                  "barretenberg/cpp/src/prover_timeout.hpp", "constexpr int kTimeout = 300;\n")
    remote.squashes[103] = commit("fix(docs): sandbox install steps (#103)",
                                  ("docs/docs/sandbox.md", "Install with `bash -i <(curl -s install.aztec.network)`\n"))
    commit("feat: typed config loader (#105)", (CONFLICT_FILE, CONFIG_V2))
    remote.conflicting = commit("fix: raise the default peer limit (#106)", (CONFLICT_FILE, CONFIG_V3))
    git(work, "tag", HEAD_TAG)
    git(work, "push", "--quiet", "--tags", remote.file_url, f"{DEFAULT_BRANCH}:{DEFAULT_BRANCH}")
    return remote


# --------------------------------------------------------------------------- smart HTTP


@dataclass(frozen=True)
class GitRequest:
    """One request the server received."""

    method: str
    path: str
    query: str
    user: str | None
    status: int


class GitHttpServer:
    """Serves the bare repositories under ``root`` over git's smart HTTP on 127.0.0.1."""

    def __init__(self, root: Path, *, token: str, username: str | None = None) -> None:
        self.root = root
        self.token = token
        self.username = username
        self.requests: list[GitRequest] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._open = asyncio.Event()
        self._open.set()
        self.waiting = 0
        self._waiting_changed = asyncio.Condition()

    def url_for(self, name: str) -> str:
        """The clone URL of ``root/<name>.git``."""
        return f"{self.url}/{name}.git"

    def count(self, status: int) -> int:
        """How many requests were answered with ``status``."""
        return sum(1 for r in self.requests if r.status == status)

    # ------------------------------------------------------------ holding

    def hold(self) -> None:
        """Keep authenticated requests waiting until :meth:`release`."""
        self._open.clear()

    def release(self) -> None:
        """Let held requests (and later ones) through."""
        self._open.set()

    async def wait_for_held(self, timeout: float = 10.0) -> None:
        """Return once at least one request is held; TimeoutError after ``timeout``."""
        async with asyncio.timeout(timeout), self._waiting_changed:
            await self._waiting_changed.wait_for(lambda: self.waiting > 0)

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> GitHttpServer:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner, self.url = await serve(app)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------ handler

    def _user(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if password != self.token or (self.username is not None and user != self.username):
            return None
        return user

    def _record(self, request: web.Request, user: str | None, status: int) -> None:
        self.requests.append(GitRequest(request.method, request.path, request.query_string, user, status))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        user = self._user(request)
        if user is None:
            self._record(request, None, 401)
            return web.Response(
                status=401,
                text="Authentication required\n",
                headers={"WWW-Authenticate": 'Basic realm="git"'},
            )
        if not self._open.is_set():
            async with self._waiting_changed:
                self.waiting += 1
                self._waiting_changed.notify_all()
            try:
                await self._open.wait()
            finally:
                async with self._waiting_changed:
                    self.waiting -= 1
                    self._waiting_changed.notify_all()
        body = await request.read()
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "REQUEST_METHOD": request.method,
            "PATH_INFO": request.path,
            "QUERY_STRING": request.query_string,
            "CONTENT_TYPE": request.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": user,
            "REMOTE_ADDR": request.remote or "127.0.0.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "GATEWAY_INTERFACE": "CGI/1.1",
        }
        for header, variable in (
            ("Git-Protocol", "HTTP_GIT_PROTOCOL"),
            ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
        ):
            if header in request.headers:
                env[variable] = request.headers[header]
        proc = await asyncio.create_subprocess_exec(
            "git", "http-backend",
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, _err = await proc.communicate(body)
        head, _, payload = out.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = out.partition(b"\n\n")
        status = 200
        headers: dict[str, str] = {}
        for line in head.decode("latin-1").splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers[key.strip()] = value.strip()
        self._record(request, user, status)
        return web.Response(status=status, body=payload, headers=headers)
