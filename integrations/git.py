"""A work-directory clone driven by the ``git`` command line through asyncio subprocesses.

Why the CLI and not pygit2 (libgit2): the release runbook's steps are git porcelain —
``cherry-pick -x`` writes the "(cherry picked from commit …)" trailer, ``-m 1`` picks a
merge commit against its first parent, a conflict is reported and undone with
``cherry-pick --abort`` — and the CLI does each exactly as the release engineers' own
git does, including smart-HTTP authentication through ``GIT_ASKPASS``. libgit2 has no
sequencer (no ``--abort``, no ``-x``), its merge results differ in corner cases, and it
would be one more native library to build.

What every call promises:

- It runs with a timeout; on expiry the whole process group (git and its
  ``git-remote-http`` child) is killed and :class:`GitTimeout` raised.
- A failure raises :class:`GitError` (or a subclass) carrying the command line and the
  last lines of stderr, with the token and any URL credentials masked.
- The token never appears in an argument, in a remote URL (so never in ``.git/config``),
  in a log line or in an exception. It reaches git only through ``GIT_ASKPASS``: a
  script written with mode 0700 in a private temporary directory (removed after the
  command) that prints the token from an environment variable of that git subprocess.
  Only commands that talk to the remote get the token in their environment.
- git runs hermetically: no system or global configuration (a host's
  ``credential.helper=store`` would otherwise write the token to disk), no terminal
  prompts (``GIT_TERMINAL_PROMPT=0``), the author and committer identity given here,
  and the ``file://`` transport only when explicitly allowed (tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 120.0
"""Seconds a single git command may take (a clone of a large repository needs minutes)."""

STDERR_LINES = 5
"""How many of stderr's last lines a :class:`GitError` quotes."""

_PASSTHROUGH_ENV = (
    "PATH",
    "TMPDIR",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)
_TOKEN_ENV = "TESTNET_BOT_GIT_TOKEN"
_USERNAME_ENV = "TESTNET_BOT_GIT_USERNAME"
_ASKPASS_SCRIPT = f"""#!/bin/sh
# Answers git's credential prompts from this process's environment.
case "$1" in
  Username*) printf '%s\\n' "${_USERNAME_ENV}" ;;
  *) printf '%s\\n' "${_TOKEN_ENV}" ;;
esac
"""
_SHA = re.compile(r"^[0-9a-f]{40}$")
_AUTH_FAILED = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "terminal prompts disabled",
    "http basic: access denied",
    "invalid username or password",
)
_REF_NAME_BAD = re.compile(r"(^[-/.])|(\.\.)|([\s~^:?*\[\\])|(@\{)|(/$)|(\.lock$)|(\.$)|(//)")


# --------------------------------------------------------------------------- errors


class GitError(Exception):
    """A git command failed: ``command`` (masked), its exit status, stderr's last lines."""

    def __init__(
        self, command: Sequence[str], returncode: int | None, stderr: str, what: str = ""
    ) -> None:
        self.command = tuple(command)
        self.returncode = returncode
        self.stderr_tail = "\n".join(stderr.strip().splitlines()[-STDERR_LINES:])
        shown = " ".join(self.command)
        status = "timed out" if returncode is None else f"exit {returncode}"
        text = what or f"`{shown}` failed ({status})"
        super().__init__(f"{text}: {self.stderr_tail}" if self.stderr_tail else text)


class GitTimeout(GitError):
    """A git command ran past its timeout and was killed."""


class GitAuthError(GitError):
    """The remote refused the credentials (or none were given)."""


class PushRejected(GitError):
    """The remote refused the push (not a fast-forward, or a protected branch)."""


class UnknownRevision(GitError):
    """A branch, tag or sha that the clone does not have."""


class BranchExists(GitError):
    """A branch that was to be created exists already (locally or on the remote)."""


class CherryPickConflict(GitError):
    """Picking ``sha`` conflicted in ``files``; the pick was aborted and the branch is as before."""

    def __init__(
        self, command: Sequence[str], stderr: str, *, sha: str, files: Sequence[str]
    ) -> None:
        self.sha = sha
        self.files = list(files)
        super().__init__(
            command,
            1,
            "",
            what=(
                f"cherry-pick of {sha[:12]} conflicts in {', '.join(self.files)};"
                " nothing was changed"
            ),
        )
        self.stderr_tail = "\n".join(stderr.strip().splitlines()[-STDERR_LINES:])


class CherryPickEmpty(GitError):
    """Picking ``sha`` changes nothing: its change is on the branch already. Nothing was changed."""

    def __init__(self, command: Sequence[str], stderr: str, *, sha: str) -> None:
        self.sha = sha
        super().__init__(
            command,
            1,
            "",
            what=f"cherry-pick of {sha[:12]} is empty: the branch has that change already",
        )


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class GitIdentity:
    """The author and committer of the bot's commits (``release.git_author``)."""

    name: str
    email: str

    @classmethod
    def parse(cls, text: str) -> GitIdentity:
        """The identity written ``"testnet-bot <bot@example.org>"`` (``release.git_author``)."""
        match = re.fullmatch(r"\s*([^<>]+?)\s*<([^<>\s]+)>\s*", text)
        if match is None:
            raise ValueError(f"a git identity looks like 'Name <email>', not {text!r}")
        return cls(match.group(1), match.group(2))

    def __post_init__(self) -> None:
        if not self.name.strip() or "@" not in self.email or any(c in self.email for c in "<>\n"):
            raise ValueError(f"not a usable git identity: {self.name!r} <{self.email}>")


@dataclass(frozen=True)
class Commit:
    """One commit as ``git log`` reports it."""

    sha: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    committer_name: str
    committer_email: str
    message: str

    @property
    def subject(self) -> str:
        """The first line of the message."""
        return self.message.split("\n", 1)[0]

    @property
    def picked_from(self) -> list[str]:
        """The shas named by ``cherry-pick -x`` trailers in the message."""
        return re.findall(r"\(cherry picked from commit ([0-9a-f]{40})\)", self.message)


@dataclass
class _Result:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class GitRepo:
    """A clone in ``workdir`` whose remote ``origin`` is ``url``; see the module docstring.

    Build one with :meth:`clone_or_fetch`. One operation at a time: a work directory
    has one index, so the caller serialises (the release run holds its lock).
    ``commands`` records the argv of every git process this object started (for audit
    and for tests that check what ``ps`` sees).
    """

    workdir: Path
    url: str
    identity: GitIdentity
    token: str | None = field(default=None, repr=False)
    username: str = "x-access-token"
    timeout: float = DEFAULT_TIMEOUT
    allow_file_protocol: bool = False
    git: str = "git"
    base_env: Mapping[str, str] | None = field(default=None, repr=False)
    commands: list[tuple[str, ...]] = field(default_factory=list, repr=False)

    # ------------------------------------------------------------ construction

    @classmethod
    async def clone_or_fetch(
        cls,
        url: str,
        workdir: Path | str,
        *,
        identity: GitIdentity,
        token: str | None = None,
        username: str = "x-access-token",
        timeout: float = DEFAULT_TIMEOUT,
        allow_file_protocol: bool = False,
        git: str = "git",
        base_env: Mapping[str, str] | None = None,
    ) -> GitRepo:
        """Clone ``url`` into ``workdir``, or fetch (branches and tags, pruned) if a clone is there.

        ``url`` must carry no credentials (``https://user:token@…`` is refused before
        anything runs, since git would store it in ``.git/config``). A non-empty
        ``workdir`` that is not a clone is refused too. A failed first clone leaves no
        directory behind.
        """
        _check_url(url, allow_file_protocol)
        path = Path(workdir)
        repo = cls(
            workdir=path,
            url=url,
            identity=identity,
            token=token,
            username=username,
            timeout=timeout,
            allow_file_protocol=allow_file_protocol,
            git=git,
            base_env=base_env,
        )
        state = _workdir_state(path)
        if state == "clone":
            await repo._run("remote", "set-url", "origin", url)
            await repo._run("fetch", "--prune", "--tags", "--force", "origin", network=True)
            return repo
        if state == "occupied":
            raise GitError(("git", "clone"), 128, "", what=f"{path} exists and is not a git clone")
        created = state == "absent"
        try:
            await repo._run(
                "clone", "--origin", "origin", "--", url, str(path), cwd=path.parent, network=True
            )
        except BaseException:
            if created:
                shutil.rmtree(path, ignore_errors=True)
            raise
        return repo

    # ------------------------------------------------------------ queries

    async def rev_parse(self, rev: str) -> str:
        """The commit sha ``rev`` names (a branch, ``origin/<branch>``, tag or sha)."""
        result = await self._run(
            "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}", check=False
        )
        if result.returncode != 0:
            raise UnknownRevision(
                ("git", "rev-parse", rev), result.returncode, "", what=f"unknown revision {rev!r}"
            )
        return result.stdout.strip()

    async def log(self, branch: str, n: int = 20) -> list[Commit]:
        """The newest ``n`` commits of ``branch``, newest first."""
        if n < 1:
            raise ValueError("n must be at least 1")
        sha = await self.rev_parse(branch)
        fmt = "%H%x00%P%x00%an%x00%ae%x00%cn%x00%ce%x00%B%x1e"
        result = await self._run("log", f"--max-count={n}", f"--format={fmt}", sha)
        commits = []
        for record in result.stdout.split("\x1e"):
            record = record.lstrip("\n")
            if not record:
                continue
            sha_, parents, an, ae, cn, ce, message = record.split("\x00", 6)
            commits.append(
                Commit(sha_, tuple(parents.split()), an, ae, cn, ce, message.rstrip("\n"))
            )
        return commits

    async def current_branch(self) -> str | None:
        """The checked-out branch, or None on a detached HEAD."""
        result = await self._run("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        return result.stdout.strip() or None

    async def remote_branch_exists(self, name: str) -> bool:
        """Whether the remote has branch ``name`` now (asks the remote, not the last fetch)."""
        _check_branch_name(name)
        result = await self._run(
            "ls-remote", "--heads", "origin", f"refs/heads/{name}", network=True
        )
        return bool(result.stdout.strip())

    # ------------------------------------------------------------ changes

    async def checkout_branch(self, name: str, start: str | None = None) -> str:
        """Check out local branch ``name`` at ``start`` (default ``origin/<name>``), discarding
        any local changes and untracked files; return its head sha."""
        _check_branch_name(name)
        sha = await self.rev_parse(start or f"origin/{name}")
        await self._run("checkout", "--force", "-B", name, sha)
        await self._run("clean", "-ffdx")
        return sha

    async def create_branch(self, name: str, start: str) -> str:
        """Create local branch ``name`` at ``start`` and check it out; return its sha.

        Refused with :class:`BranchExists` when the clone or the remote has ``name``.
        """
        _check_branch_name(name)
        local = await self._run(
            "show-ref", "--verify", "--quiet", f"refs/heads/{name}", check=False
        )
        if local.returncode == 0 or await self.remote_branch_exists(name):
            raise BranchExists(
                ("git", "branch", name), 128, "", what=f"branch {name!r} exists already"
            )
        sha = await self.rev_parse(start)
        await self._run("checkout", "--force", "-b", name, sha)
        await self._run("clean", "-ffdx")
        return sha

    async def cherry_pick(self, shas: Sequence[str], mainline: int | None = None) -> list[str]:
        """Pick ``shas`` in order onto the checked-out branch with ``-x``; return the new shas.

        A merge commit is picked against parent ``mainline`` (default 1, the branch it
        was merged into); ``mainline`` is ignored for ordinary commits. On a conflict or
        an empty pick every pick of this call is undone — the branch, index and work
        tree are exactly as before — and :class:`CherryPickConflict` (naming the files)
        or :class:`CherryPickEmpty` is raised.
        """
        if not shas:
            return []
        branch = await self.current_branch()
        if branch is None:
            raise GitError(("git", "cherry-pick"), None, "", what="no branch is checked out")
        before = await self.rev_parse("HEAD")
        resolved = [await self.rev_parse(sha) for sha in shas]
        picked: list[str] = []
        for sha in resolved:
            parents = (await self._run("rev-list", "--parents", "-n", "1", sha)).stdout.split()[1:]
            args = ["cherry-pick", "-x"]
            if len(parents) > 1:
                args += ["-m", str(mainline or 1)]
            args += ["--", sha]
            result = await self._run(*args, check=False)
            if result.returncode == 0:
                picked.append(await self.rev_parse("HEAD"))
                continue
            conflicted = await self._run(
                "diff", "--name-only", "--diff-filter=U", "-z", check=False
            )
            files = [f for f in conflicted.stdout.split("\x00") if f]
            await self._undo_pick(before)
            command = ("git", *args)
            if files:
                raise CherryPickConflict(command, result.stderr, sha=sha, files=files)
            if "empty" in (result.stdout + result.stderr).lower():
                raise CherryPickEmpty(command, result.stderr, sha=sha)
            raise GitError(command, result.returncode, self._mask(result.stderr))
        return picked

    async def commit_empty(self, message: str) -> str:
        """Commit nothing on the checked-out branch with ``message``; return the new sha."""
        if not message.strip():
            raise ValueError("an empty commit still needs a message")
        await self._run(
            "commit",
            "--allow-empty",
            "--no-verify",
            "--cleanup=whitespace",
            "--file=-",
            stdin=message,
        )
        return await self.rev_parse("HEAD")

    async def push(self, branch: str) -> None:
        """Push local ``branch`` to the remote's branch of the same name (never forced).

        :class:`PushRejected` when the remote refuses it (not a fast-forward, protected),
        :class:`GitAuthError` when it refuses the credentials.
        """
        _check_branch_name(branch)
        ref = f"refs/heads/{branch}"
        result = await self._run(
            "push", "--porcelain", "origin", f"{ref}:{ref}", network=True, check=False
        )
        if result.returncode != 0:
            text = (result.stdout + "\n" + result.stderr).lower()
            command = ("git", "push", "origin", f"{ref}:{ref}")
            if "[rejected]" in text or "[remote rejected]" in text or "non-fast-forward" in text:
                raise PushRejected(
                    command, result.returncode, self._mask(result.stdout + result.stderr)
                )
            self._raise_for(command, result)
        await self._run("fetch", "origin", f"+{ref}:refs/remotes/origin/{branch}", network=True)

    # ------------------------------------------------------------ plumbing

    async def _undo_pick(self, before: str) -> None:
        """Abort a stopped cherry-pick and put the branch back at ``before``."""
        await self._run("cherry-pick", "--abort", check=False)
        await self._run("reset", "--hard", "--quiet", before)
        await self._run("clean", "-ffdx")

    def _mask(self, text: str) -> str:
        """``text`` with the token and any URL credentials replaced by ``***``."""
        if self.token:
            text = text.replace(self.token, "***")
        return re.sub(r"(\w+://)[^/@\s]+@", r"\1***@", text)

    def _raise_for(self, command: Sequence[str], result: _Result) -> None:
        stderr = self._mask(result.stderr)
        if any(marker in stderr.lower() for marker in _AUTH_FAILED):
            raise GitAuthError(
                command,
                result.returncode,
                stderr,
                what=f"the remote refused the credentials for `{' '.join(command)}`",
            )
        raise GitError(command, result.returncode, stderr)

    def _env(self, askpass: Path | None) -> dict[str, str]:
        source = os.environ if self.base_env is None else self.base_env
        env = {k: source[k] for k in _PASSTHROUGH_ENV if k in source}
        env.setdefault("PATH", os.defpath)
        env.update(
            {
                "LC_ALL": "C",
                "LANG": "C",
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": os.devnull,
                "GIT_TERMINAL_PROMPT": "0",
                "GIT_AUTHOR_NAME": self.identity.name,
                "GIT_AUTHOR_EMAIL": self.identity.email,
                "GIT_COMMITTER_NAME": self.identity.name,
                "GIT_COMMITTER_EMAIL": self.identity.email,
                "GIT_EDITOR": "true",
            }
        )
        if askpass is not None and self.token:
            env["GIT_ASKPASS"] = str(askpass)
            env[_TOKEN_ENV] = self.token
            env[_USERNAME_ENV] = self.username
        return env

    async def _run(
        self,
        *args: str,
        cwd: Path | None = None,
        network: bool = False,
        check: bool = True,
        stdin: str | None = None,
    ) -> _Result:
        """Run ``git <args>`` in the clone (or ``cwd``); raise :class:`GitError` on failure
        when ``check``; kill it and raise :class:`GitTimeout` past the timeout."""
        protocol = "always" if self.allow_file_protocol else "never"
        argv = (
            self.git,
            "-c",
            f"protocol.file.allow={protocol}",
            "-c",
            "credential.helper=",
            *args,
        )
        shown = ("git", *args)
        self.commands.append(argv)
        log.debug("git: %s", self._mask(" ".join(shown)))
        with _askpass(network and bool(self.token)) as askpass:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=cwd or self.workdir,
                env=self._env(askpass),
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
            try:
                out, err = await asyncio.wait_for(
                    proc.communicate(stdin.encode() if stdin is not None else None), self.timeout
                )
            except BaseException as exc:
                _kill_group(proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
                if isinstance(exc, TimeoutError):
                    raise GitTimeout(
                        shown,
                        None,
                        "",
                        what=(
                            f"`{self._mask(' '.join(shown))}` took longer than"
                            f" {self.timeout:g}s and was stopped"
                        ),
                    ) from None
                raise
        result = _Result(
            proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")
        )
        if check and result.returncode != 0:
            self._raise_for(tuple(self._mask(a) for a in shown), result)
        return result


# --------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def _askpass(wanted: bool) -> Iterator[Path | None]:
    """A private directory holding the askpass script, removed afterwards (None if not wanted)."""
    if not wanted:
        yield None
        return
    directory = Path(tempfile.mkdtemp(prefix="testnet-bot-git-"))  # mode 0700
    try:
        script = directory / "askpass.sh"
        fd = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
        with os.fdopen(fd, "w") as handle:
            handle.write(_ASKPASS_SCRIPT)
        yield script
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _workdir_state(path: Path) -> str:
    """``clone``, ``absent`` (parent created), ``empty`` or ``occupied``."""
    if (path / ".git").is_dir():
        return "clone"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        return "absent"
    return "occupied" if any(path.iterdir()) else "empty"


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _check_url(url: str, allow_file_protocol: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"https", "http", "file"}:
        raise ValueError(f"unsupported git remote URL scheme {parts.scheme!r}")
    if parts.scheme == "file" and not allow_file_protocol:
        raise ValueError("file:// remotes are not allowed here")
    if parts.username is not None or parts.password is not None:
        masked = urlunsplit(parts._replace(netloc="***@" + (parts.hostname or "")))
        raise ValueError(
            f"the remote URL must not carry credentials ({masked}); give the token separately"
        )


def _check_branch_name(name: str) -> None:
    if not name or _REF_NAME_BAD.search(name):
        raise ValueError(f"not a valid branch name: {name!r}")


def is_sha(text: str) -> bool:
    """Whether ``text`` is a full 40-hex commit sha."""
    return bool(_SHA.match(text))
