"""deploy/Dockerfile, read statically: a base pinned by tag and digest, a multi-stage
build, a non-root user, no secrets or build tools in the final image, an exec-form
entrypoint, and a HEALTHCHECK that really tells a running bot from a stopped one.

No image is built here: the machines this suite runs on reach no container registry
(the base cannot be pulled) and podman, though installable, cannot start a container
(crun may not set RLIMIT_NOFILE in this sandbox), so RUN steps could not run either."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.fakes.slack_api import SlackFake
from tests.integration.botprocess import start_bot

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
K8S_CONFIG = ROOT / "deploy" / "k8s" / "config.yaml"
ENTRYPOINT = ["testnet-bot", "run", "--config", "/etc/testnet-bot/config.yaml"]
PINNED = re.compile(r"^[\w./-]+:\d+\.\d+\.\d+[\w.-]*@sha256:[0-9a-f]{64}$")
SECRETISH = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|CREDENTIAL", re.IGNORECASE)
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|build-essential|make|cc|clang|git|curl|wget)\b")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    stage: int


def parse(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile, continuation lines joined, comments dropped,
    each tagged with the index of the stage (FROM) it belongs to."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    out: list[Instruction] = []
    stage = -1
    for line in lines:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        out.append(Instruction(keyword, args.strip(), stage))
    return out


def problems(text: str) -> list[str]:
    """Everything in a Dockerfile that breaks the image's rules (empty: none)."""
    found: list[str] = []
    steps = parse(text)
    args = {}
    for step in steps:
        if step.keyword == "ARG" and "=" in step.args and step.stage == -1:
            name, _, value = step.args.partition("=")
            args[name] = value
    froms = [s for s in steps if s.keyword == "FROM"]
    if len(froms) < 2:
        found.append("not multi-stage")
    stages: list[str] = []
    for step in froms:
        image, _, alias = step.args.partition(" AS ")
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), image)
        if image not in stages and not PINNED.match(image):
            found.append(f"base {image!r} is not pinned by full tag and digest")
        stages.append(alias.strip())
    final = len(froms) - 1
    last = [s for s in steps if s.stage == final]
    users = [s.args for s in last if s.keyword == "USER"]
    if not users:
        found.append("the final stage runs as root (no USER)")
    elif users[-1].split(":")[0] in ("0", "root") or not users[-1].split(":")[0].isdigit():
        found.append(f"USER {users[-1]}: use a fixed non-zero uid")
    if not any(s.keyword == "COPY" and "--from=" in s.args for s in last):
        found.append("the final stage copies nothing from the builder")
    for step in last:
        if step.keyword == "RUN" and re.search(r"apt-get install|pip install", step.args):
            if BUILD_TOOLS.search(step.args) or "pip install" in step.args:
                found.append(f"the final stage installs tools: {step.args}")
    for step in steps:
        if step.keyword in ("ENV", "ARG"):
            for name in re.findall(r"(?:^|\s)(\w+)=", step.args) or [step.args.split()[0]]:
                if SECRETISH.search(name):
                    found.append(
                        f"{step.keyword} {name}: secrets come from the runtime environment"
                    )
    entry = [s.args for s in last if s.keyword == "ENTRYPOINT"]
    try:
        if not entry or json.loads(entry[-1]) != ENTRYPOINT:
            found.append(f"ENTRYPOINT must be the exec form {json.dumps(ENTRYPOINT)}")
    except json.JSONDecodeError:
        found.append("ENTRYPOINT in shell form: SIGTERM would go to a shell, not the bot")
    checks = [s.args for s in last if s.keyword == "HEALTHCHECK"]
    if not checks:
        found.append("no HEALTHCHECK")
    else:
        command = healthcheck_command(checks[-1])
        if command is None or "/healthz" not in " ".join(command) or command[0] != "python":
            found.append('HEALTHCHECK must be CMD ["python", "-c", ...] on /healthz')
    return found


def healthcheck_command(args: str) -> list[str] | None:
    """The exec-form command of a HEALTHCHECK's arguments, or None (shell form)."""
    _, _, rest = args.partition("CMD ")
    try:
        command = json.loads(rest)
    except json.JSONDecodeError:
        return None
    return command if isinstance(command, list) else None


def test_the_dockerfile_keeps_the_rules() -> None:
    assert problems(DOCKERFILE.read_text()) == []


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ("python:3.11.13-slim-bookworm@sha256:", "python:3.11-slim@sha256:", "not pinned"),
        ("@sha256:86adf8db", "@sha256:", "not pinned"),
        ("USER 10001:10001", "USER root", "fixed non-zero uid"),
        ("USER 10001:10001", "", "runs as root"),
        ("PYTHONUNBUFFERED=1", "PYTHONUNBUFFERED=1 GITHUB_TOKEN=ghp_x", "GITHUB_TOKEN"),
        (
            'ENTRYPOINT ["testnet-bot", "run", "--config", "/etc/testnet-bot/config.yaml"]',
            "ENTRYPOINT testnet-bot run --config /etc/testnet-bot/config.yaml",
            "shell form",
        ),
        ("HEALTHCHECK", "# HEALTHCHECK", "no HEALTHCHECK"),
        ("COPY --from=builder", "COPY --chown=0", "copies nothing"),
        (
            "WORKDIR /var/lib/testnet-bot",
            "RUN apt-get install -y gcc\nWORKDIR /var/lib/testnet-bot",
            "installs tools",
        ),
    ],
)
def test_the_rules_catch_each_kind_of_mistake(old: str, new: str, complaint: str) -> None:
    text = DOCKERFILE.read_text()
    assert old in text
    found = problems(text.replace(old, new))
    assert any(complaint in line for line in found), found


def test_the_image_holds_what_the_package_needs_and_runs_from_a_volume() -> None:
    steps = parse(DOCKERFILE.read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["testnet-bot"] == "bot.cli:main"
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {s.args.split()[0] for s in steps if s.keyword == "COPY" and s.stage == 0}
    assert packages <= copied, f"the builder must copy {sorted(packages - copied)}"
    ignored = DOCKERIGNORE.read_text().splitlines()
    assert ignored[ignored.index("*")] == "*", "the context is deny-by-default"
    assert {f"!{p}/" for p in packages} <= set(ignored)
    final = max(s.stage for s in steps)
    volumes = [json.loads(s.args) for s in steps if s.keyword == "VOLUME" and s.stage == final]
    assert volumes == [["/var/lib/testnet-bot"]]
    config = yaml.safe_load(K8S_CONFIG.read_text())
    assert Path(config["state"]["path"]).parent == Path("/var/lib/testnet-bot")
    signals = [s.args for s in steps if s.keyword == "STOPSIGNAL"]
    assert signals == ["SIGTERM"]


async def test_the_healthcheck_passes_while_the_bot_runs_and_fails_once_sigterm_stopped_it(
    tmp_path: Path,
) -> None:
    """The image's own HEALTHCHECK command against the bot run with the shipped
    cluster config (database and address moved into the test's temp dir)."""
    (check,) = [s.args for s in parse(DOCKERFILE.read_text()) if s.keyword == "HEALTHCHECK"]
    command = healthcheck_command(check)
    assert command is not None
    config = yaml.safe_load(K8S_CONFIG.read_text())
    config["state"]["path"] = str(tmp_path / "state" / "testnet-bot.db")
    config["http"]["host"] = "127.0.0.1"
    async with SlackFake() as slack:  # the bot checks its token at start-up
        config["chat"]["slack"]["api_url"] = slack.api_url
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": "test-value",
            "GITHUB_TOKEN": "test-value",
            "ALERTMANAGER_TOKEN": "am",
        }
        await _healthcheck_follows_the_bot(tmp_path, path, env, command)


async def _healthcheck_follows_the_bot(
    tmp_path: Path, path: Path, env: dict[str, str], command: list[str]
) -> None:
    bot = await start_bot(tmp_path, path, env=env)
    try:
        argv = [sys.executable, *[a.replace("http://127.0.0.1:8080", bot.url) for a in command[1:]]]
        assert bot.url in " ".join(argv), shlex.join(argv)
        alive = await asyncio.to_thread(subprocess.run, argv, capture_output=True, timeout=10)
        assert alive.returncode == 0, alive.stderr
    finally:
        code = await bot.stop()
    assert code == 0, "".join(bot.log)[-2000:]
    assert '"shutdown"' in "".join(bot.log)
    dead = await asyncio.to_thread(subprocess.run, argv, capture_output=True, timeout=10)
    assert dead.returncode != 0
