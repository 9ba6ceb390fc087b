"""Scenarios through the shell adapter, read like a conversation."""

from __future__ import annotations

from pathlib import Path

from bot.context import Context
from bot.core import Outcome
from bot.registry import Registry
from tests.harness import ShellBot, make_config

NETWORKS = {"alpha": {"namespace": "alpha-testnet", "image": "aztecprotocol/aztec"}}


async def test_help_lists_every_command_with_its_summary(tmp_path: Path) -> None:
    async with ShellBot(make_config(tmp_path)) as bot:
        out = await bot.say("/testnet help")
        for spec in bot.bot.services.registry.specs():
            assert f"/testnet {spec.usage()}" in out
            assert spec.summary in out


async def test_help_for_one_command_shows_usage_and_permission(tmp_path: Path) -> None:
    async with ShellBot(make_config(tmp_path)) as bot:
        out = await bot.say("help unlock")
        assert "/testnet unlock <network>" in out
        assert "`deploy` permission" in out
        assert "confirmation" in out


async def test_a_typo_gets_the_closest_command(tmp_path: Path) -> None:
    async with ShellBot(make_config(tmp_path)) as bot:
        out = await bot.say("/testnet stauts")
        assert "Unknown command `stauts`" in out
        assert "Did you mean `/testnet status`?" in out
        assert bot.last_outcome is Outcome.UNKNOWN


async def test_bad_arguments_get_the_usage_and_change_nothing(tmp_path: Path) -> None:
    async with ShellBot(make_config(tmp_path, networks=NETWORKS)) as bot:
        out = await bot.say("/testnet lock")
        assert "Missing `network`" in out
        assert "Usage: `/testnet lock <network> <reason...>`" in out
        out = await bot.say("/testnet audit --n many")
        assert "not a whole number" in out
        out = await bot.say('/testnet lock alpha "unterminated')
        assert "could not read that command" in out
        assert bot.store.locks() == []


async def test_a_dangerous_command_asks_and_does_nothing_on_no(tmp_path: Path) -> None:
    async with ShellBot(make_config(tmp_path, networks=NETWORKS)) as bot:
        await bot.say("/testnet lock alpha release freeze")
        out = await bot.say("/testnet unlock alpha", answer="n")
        assert "locked by operator" in out and "release freeze" in out  # the plan
        assert bot.console.prompts[-1].startswith("Proceed with `unlock`?")
        assert "Cancelled" in out
        assert bot.store.get_lock("alpha") is not None
        assert bot.last_outcome is Outcome.CANCELLED
        out = await bot.say("/testnet unlock alpha", answer="y")
        assert "is unlocked" in out
        assert bot.store.get_lock("alpha") is None


async def test_a_user_without_permission_is_refused_and_audited(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        networks=NETWORKS,
        roles={"admin": {"shell_users": ["alice"]}, "viewer": {"shell_users": ["bob"]}},
        chat={"shell": {"user": "alice", "roles": []}},
    )
    async with ShellBot(config, user="bob") as bot:
        out = await bot.say("/testnet lock alpha mine")
        assert "You need the `deploy` permission to run `lock`" in out
        assert bot.store.locks() == []
        entry = bot.store.recent_audit(1)[0]
        assert (entry.actor, entry.command, entry.outcome) == ("bob", "lock", "denied")
        assert entry.detail == "deploy"
    async with ShellBot(config, user="alice") as bot:
        await bot.say("/testnet lock alpha mine")
        assert bot.store.get_lock("alpha") is not None


async def test_locks_refuse_a_second_holder_and_status_shows_them(tmp_path: Path) -> None:
    async with ShellBot(make_config(tmp_path, networks=NETWORKS)) as bot:
        await bot.say("lock alpha hotfix in progress")
        out = await bot.say("lock alpha again")
        assert "already locked by operator" in out and "hotfix in progress" in out
        out = await bot.say("status")
        assert "alpha" in out and "locked by operator" in out
        out = await bot.say("lock beta x")
        assert "Unknown network `beta`" in out


async def test_an_unexpected_error_gives_a_trace_id_not_a_traceback(tmp_path: Path) -> None:
    registry = Registry()

    @registry.command("explode")
    async def explode(ctx: Context) -> None:
        """Fail unexpectedly."""
        raise RuntimeError("secret internals")

    async with ShellBot(make_config(tmp_path), registry=registry) as bot:
        out = await bot.say("/testnet explode")
        assert "Sorry, something went wrong running `explode`" in out
        assert "trace id" in out
        assert "secret internals" not in out and "Traceback" not in out
        entry = bot.store.recent_audit(1)[0]
        assert entry.outcome == "error" and entry.trace_id in out


async def test_audit_shows_recent_commands(tmp_path: Path) -> None:
    async with ShellBot(make_config(tmp_path)) as bot:
        await bot.say("status")
        out = await bot.say("audit 5")
        assert "shell:operator" in out and "status" in out and "ok" in out
        out = await bot.say("audit 0")
        assert "between 1 and 200" in out


async def test_status_shows_parked_deliveries(tmp_path: Path) -> None:
    async with ShellBot(make_config(tmp_path)) as bot:
        item = bot.store.enqueue("slack:C0GONE", "post", {"text": "lost"})
        assert item is not None
        bot.store.mark_dead(item, error="channel_not_found: the channel does not exist")
        out = await bot.say("status")
        assert "Outbox: ⚠️ 0 pending, 1 dead" in out
        assert "slack:C0GONE: channel_not_found" in out


async def test_help_after_any_command_shows_its_help_and_runs_nothing(tmp_path: Path) -> None:
    async with ShellBot(make_config(tmp_path, networks=NETWORKS)) as bot:
        out = await bot.say("/testnet lock alpha --help")
        assert "/testnet lock <network> <reason...>" in out and "Freeze deploys" in out
        assert bot.last_outcome is Outcome.OK
        assert bot.store.locks() == []
        out = await bot.say("/testnet incident -h")
        assert "/testnet incident ack <id>" in out and "/testnet incident resolve <id>" in out
        out = await bot.say("/testnet lock alpha --helpme")
        assert "Unknown option `--helpme`" in out and bot.last_outcome is Outcome.USAGE


async def test_help_incident_lists_ack_and_resolve(tmp_path: Path) -> None:
    async with ShellBot(make_config(tmp_path)) as bot:
        out = await bot.say("help incident")
        assert "/testnet incident <id>" in out
        assert "/testnet incident ack <id>" in out and "/testnet incident resolve <id>" in out
        out = await bot.say("help incidentz")
        assert "No command `incidentz`" in out


async def test_short_options_work_or_say_which_options_exist(tmp_path: Path) -> None:
    async with ShellBot(make_config(tmp_path, networks=NETWORKS)) as bot:
        await bot.say("status")
        out = await bot.say("audit -n 1")
        assert bot.last_outcome is Outcome.OK and "status" in out
        out = await bot.say("history -q 5")
        assert "Unknown option `-q`" in out and "Unknown network" not in out
        assert bot.last_outcome is Outcome.USAGE


async def test_quoted_label_values_keep_their_spaces(tmp_path: Path) -> None:
    async with ShellBot(make_config(tmp_path)) as bot:
        out = await bot.say('matrix explain alertname="Block Production" network=alpha')
        assert 'alertname is "Block Production"' in out
        assert bot.last_outcome is Outcome.OK
        out = await bot.say("matrix explain alertname=Block Production")
        assert "Could not read the labels" in out and bot.last_outcome is Outcome.USAGE


async def test_far_fetched_words_get_no_suggestion(tmp_path: Path) -> None:
    async with ShellBot(make_config(tmp_path)) as bot:
        out = await bot.say("/testnet bananas")
        assert "Unknown command `bananas`" in out
        assert "Did you mean" not in out and "nearest" not in out
        out = await bot.say("/testnet hlep")
        assert "Did you mean `/testnet help`?" in out


async def test_unknown_network_is_a_usage_error(tmp_path: Path) -> None:
    async with ShellBot(make_config(tmp_path, networks=NETWORKS)) as bot:
        out = await bot.say("history beta")
        assert "Unknown network `beta`" in out and "Usage: `/testnet history" in out
        assert bot.last_outcome is Outcome.USAGE
        await bot.say("history alpha")
        assert bot.last_outcome is Outcome.OK


async def test_unlock_of_an_unlocked_network_says_so_without_asking(tmp_path: Path) -> None:
    async with ShellBot(make_config(tmp_path, networks=NETWORKS)) as bot:
        out = await bot.say("unlock alpha")
        assert "`alpha` is not locked" in out
        assert bot.console.prompts == []  # nobody was asked to approve
        assert bot.last_outcome is Outcome.FAILED
        await bot.say("lock alpha freeze")
        out = await bot.say("unlock alpha", answer="y")
        assert bot.console.prompts[-1].startswith("Proceed with `unlock`?")
        assert "is unlocked" in out and bot.store.get_lock("alpha") is None


async def test_status_does_not_count_its_own_reply_as_pending(tmp_path: Path) -> None:
    async with ShellBot(make_config(tmp_path, networks=NETWORKS)) as bot:
        out = await bot.say("status")
        assert "Outbox: ✅ 0 pending, 0 dead" in out
        bot.store.enqueue("slack:C0SLOW", "post", {"text": "queued"})
        out = await bot.say("status")
        assert "Outbox: ✅ 1 pending, 0 dead" in out


async def test_an_incident_without_github_says_no_issue_is_filed(tmp_path: Path) -> None:
    async with ShellBot(make_config(tmp_path)) as bot:
        incident_id = bot.store.incidents.create(
            network="alpha",
            event="Block production stalled",
            criticality="Critical",
            owner="Alpha Team",
            slack_destination=None,
            now=bot.bot.services.clock(),
        )
        out = await bot.say(f"incident {incident_id}")
        assert "no `github:` configured" in out and "pending" not in out
        out = await bot.say("incidents")
        assert "none" in out and "pending" not in out
        # An issue filed while GitHub was configured is still shown.
        bot.store.incidents.record_issue(incident_id, 12, "https://github.com/o/r/issues/12")
        out = await bot.say(f"incident {incident_id}")
        assert "issues/12" in out and "no `github:`" not in out
