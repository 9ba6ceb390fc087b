"""The first hour of a new user, from the README: ``testnet-bot`` in subprocesses,
with no Kubernetes configured (KUBECONFIG unset, HOME an empty temp dir)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main

BIN = [sys.executable, "-m", "bot.cli"]
NETWORK = """
networks:
  alpha:
    namespace: alpha-testnet
    image: aztecprotocol/aztec
    workloads:
      - {kind: StatefulSet, selector: app=validator, canary: true}
    connection_info:
      - {name: ETHEREUM_HOST, service: ethereum-lb, port: 8545}
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A working directory with a config, and an empty home of its own."""
    (tmp_path / "home").mkdir()
    (tmp_path / "c.yaml").write_text(NETWORK)
    return tmp_path


def cli(
    *args: str, cwd: Path, kubeconfig: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NO_COLOR")}
    env["HOME"] = str(cwd / "home")
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    return subprocess.run(
        [*BIN, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    "command", ["/testnet deploy v0.62.0 --dry-run", "/testnet deploy v0.62.0", "/testnet info"]
)
def test_commands_that_need_kubernetes_say_what_is_missing(home: Path, command: str) -> None:
    result = cli("exec", "--config", "c.yaml", "--yes", command, cwd=home)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Kubernetes is not configured: no kubeconfig at ~/.kube/config" in result.stdout
    assert "kubernetes.kubeconfig" in result.stdout  # how to configure it
    everything = result.stdout + result.stderr
    assert "Traceback" not in everything and "Sorry, something went wrong" not in everything
    assert "current-context" not in everything


def test_a_kubeconfig_without_a_current_context_is_named(home: Path) -> None:
    kubeconfig = home / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\n")
    result = cli(
        "exec", "--config", "c.yaml", "/testnet deploy v0.62.0", cwd=home, kubeconfig=kubeconfig
    )
    assert result.returncode == 1
    assert f"the kubeconfig {kubeconfig} names no current context" in result.stdout
    assert "kubernetes.context" in result.stdout and "Traceback" not in result.stderr
    missing = cli(
        "exec", "--config", "c.yaml", "/testnet status", cwd=home, kubeconfig=home / "nope"
    )
    assert missing.returncode == 0  # status reports it and carries on
    assert f"no kubeconfig at {home / 'nope'}" in missing.stdout


def test_config_may_come_before_the_command(home: Path) -> None:
    result = cli("--config", "c.yaml", "exec", "/testnet", "status", cwd=home)
    assert result.returncode == 0, result.stderr
    assert "alpha" in result.stdout and "namespace `alpha-testnet`" in result.stdout
    checked = cli("--config", "c.yaml", "config", "check", cwd=home)
    assert checked.returncode == 0 and "networks: alpha" in checked.stdout
    missing = cli("--config", "missing.yaml", "config", "check", cwd=home)
    assert missing.returncode == 3 and "missing.yaml" in missing.stderr
    # The command's own --config wins over the one before it.
    both = cli("--config", "missing.yaml", "config", "check", "--config", "c.yaml", cwd=home)
    assert both.returncode == 0


def test_exec_takes_the_command_unquoted_and_bad_arguments_exit_2(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(home)
    assert main(["exec", "--config", "c.yaml", "/testnet", "audit", "-n", "1"]) == 0
    capsys.readouterr()
    assert main(["exec", "/testnet", "matrix", "explain", "alertname=Block Production"]) == 0
    assert 'alertname is "Block Production"' in capsys.readouterr().out
    for bad in (
        ["/testnet", "history", "-q", "1"],
        ["/testnet", "history", "beta"],
        ["/testnet", "deploy"],
        ["/testnet", "matrix", "explain", "alertname"],
        ["/testnet", "schedule", "sanity", "alpha", "every", "fortnight"],
    ):
        assert main(["exec", "--config", "c.yaml", *bad]) == 2, capsys.readouterr()
    assert main(["exec"]) == 2
    assert "exec needs a command" in capsys.readouterr().err


def test_exec_shows_replies_only(home: Path) -> None:
    result = cli("exec", "--config", "c.yaml", "/testnet help", cwd=home)
    assert result.returncode == 0
    assert "webhook" not in result.stderr  # exec serves no webhooks
    assert result.stderr.strip() == ""


def test_docs_lists_what_it_prints_and_completion_scripts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["docs"]) == 0
    listed = capsys.readouterr().out
    assert "commands" in listed and "config" in listed
    assert main(["completion", "bash"]) == 0
    bash = capsys.readouterr().out
    assert "complete" in bash and "testnet-bot" in bash and "--config" in bash
    assert main(["completion", "zsh"]) == 0
    assert capsys.readouterr().out.startswith("#compdef testnet-bot")
    with pytest.raises(SystemExit) as exited:
        main(["completion", "fish"])
    assert exited.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_the_shell_prints_replies_and_keeps_logs_in_a_file(home: Path) -> None:
    result = cli("shell", "--config", "c.yaml", cwd=home, stdin="help\nstatus\nexit\n")
    assert result.returncode == 0, result.stderr
    assert "/testnet deploy <version>" in result.stdout and "alpha" in result.stdout
    assert '"level"' not in result.stdout and " INFO " not in result.stdout
    assert "*alpha*" not in result.stdout  # bold rendered, not shown as Slack syntax
    log = home / "var" / "testnet-bot.log"
    assert log.exists() and '"event": "ready"' in log.read_text()
    assert '"level": "info"' not in result.stderr  # info lines went to the file only
