"""Slack: signed slash commands, confirmations with buttons, delivery and errors,
through slack-bolt and slack-sdk against the Slack fake."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from bot.context import Context
from bot.registry import Registry
from integrations.chat.slack_blocks import CANCEL_ACTION
from tests.fakes.slack_api import ALICE, BOB, DEPLOYS
from tests.fakes.slack_signing import (
    bad_signature,
    block_actions_body,
    signed_headers,
    signed_slash_command,
    slash_command_body,
    stale_timestamp,
)
from tests.harness import wait_until
from tests.integration.slack_harness import SECRET, slack_bot

CAROL = "U0CAROL"
SETUP: dict[str, Any] = {
    "networks": {
        "alpha": {"namespace": "alpha", "image": "x"},
        "beta": {"namespace": "beta", "image": "x", "approvals": 2},
    },
    "roles": {"admin": {"slack_users": [ALICE]}, "release": {"slack_groups": ["S0RELEASE"]}},
    "permissions": {"deploy": ["admin", "release"], "admin": ["admin"]},
}


async def test_a_signed_slash_command_is_acked_at_once_and_answered_in_the_channel(
    tmp_path: Path,
) -> None:
    async with slack_bot(tmp_path, **SETUP) as sb:
        status, seconds, _ = await sb.command("help", user=ALICE)
        assert status == 200
        assert seconds < 3.0
        await sb.slack.wait_until(lambda: any("Commands:" in t for t in sb.texts()), within=10)
        (post,) = [c for c in sb.slack.calls("chat.postMessage") if "Commands:" in c.params["text"]]
        assert post.params["channel"] == DEPLOYS


async def test_progress_is_updated_in_place_and_threads_hold_details(tmp_path: Path) -> None:
    async with slack_bot(tmp_path, **SETUP) as sb:
        await sb.command("lock alpha release freeze", user=ALICE)
        await sb.slack.wait_until(lambda: any("is locked" in t for t in sb.texts()), within=10)
        await sb.command("status", user=ALICE)
        await sb.slack.wait_until(
            lambda: any("locked by Alice R" in t for t in sb.texts()), within=10
        )
        assert sb.slack.count("chat.update") == 0  # plain replies are posted once


async def test_bad_signature_stale_timestamp_and_missing_headers_get_401(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with slack_bot(tmp_path, **SETUP) as sb:
        at_start = sb.slack.calls()  # the start-up token check only
        body = slash_command_body(sb.slack.slash_command("status", user_id=ALICE))
        cases = [
            (signed_headers(body, SECRET, signature=bad_signature(body, SECRET, 1)), "signature"),
            (signed_headers(body, SECRET, timestamp=stale_timestamp()), "5 minutes"),
            ({"Content-Type": "application/x-www-form-urlencoded"}, "missing"),
        ]
        for headers, reason in cases:
            caplog.clear()
            async with sb.http.post(sb.events_url, data=body, headers=headers) as resp:
                assert resp.status == 401
            (line,) = [r for r in caplog.records if r.name == "testnet_bot.slack"]
            assert line.levelname == "WARNING"
            assert reason in line.getMessage() and "127.0.0.1" in line.getMessage()
        assert [c.method for c in at_start] == ["auth.test"]
        assert sb.slack.calls() == at_start
        assert sb.bot.services.store.recent_audit(5) == []
        good = signed_slash_command(sb.slack.slash_command("status", user_id=ALICE), SECRET)
        async with sb.http.post(sb.events_url, data=good.body, headers=good.headers) as resp:
            assert resp.status == 200


async def test_approve_runs_the_command_once(tmp_path: Path) -> None:
    async with slack_bot(tmp_path, **SETUP) as sb:
        sb.bot.services.store.lock("alpha", holder="alice", reason="freeze")
        await sb.command("unlock alpha", user=ALICE)
        message = await sb.confirmation_message()
        assert "locked by alice" in message.text
        await sb.click(message, user=ALICE)
        await sb.slack.wait_until(lambda: any("is unlocked" in t for t in sb.texts()), within=10)
        assert "✅ Approved by <@U0ALICE>" in sb.slack.message(DEPLOYS, message.ts).text
        assert sb.bot.services.store.get_lock("alpha") is None


async def test_a_slow_command_gets_an_ephemeral_working_note(tmp_path: Path) -> None:
    async with slack_bot(tmp_path, **SETUP) as sb:
        sb.bot.services.store.lock("alpha", holder="alice", reason="freeze")
        await sb.command("unlock alpha", user=ALICE)  # waits for a click: takes longer
        await sb.slack.wait_until(
            lambda: "Working on `unlock alpha`…" in sb.ephemerals(ALICE), within=10
        )
        message = await sb.confirmation_message()
        await sb.click(message, user=ALICE, action=CANCEL_ACTION)
        await sb.slack.wait_until(lambda: any("Cancelled:" in t for t in sb.texts()), within=10)


async def test_cancel_leaves_everything_as_it_was(tmp_path: Path) -> None:
    async with slack_bot(tmp_path, **SETUP) as sb:
        sb.bot.services.store.lock("alpha", holder="alice", reason="freeze")
        await sb.command("unlock alpha", user=ALICE)
        message = await sb.confirmation_message()
        await sb.click(message, user=ALICE, action=CANCEL_ACTION)
        await sb.slack.wait_until(lambda: any("Cancelled:" in t for t in sb.texts()), within=10)
        assert "✖️ Cancelled by <@U0ALICE>" in sb.slack.message(DEPLOYS, message.ts).text
        assert sb.bot.services.store.get_lock("alpha") is not None
        assert sb.bot.services.store.recent_audit(1)[0].outcome == "cancelled"


async def test_approval_by_a_user_without_permission_is_refused(tmp_path: Path) -> None:
    async with slack_bot(tmp_path, **SETUP) as sb:
        sb.bot.services.store.lock("alpha", holder="alice", reason="freeze")
        await sb.command("unlock alpha", user=ALICE)
        message = await sb.confirmation_message()
        await sb.click(message, user=BOB)
        await sb.slack.wait_until(
            lambda: any("You need the `deploy` permission" in t for t in sb.ephemerals(BOB)),
            within=10,
        )
        conf = sb.bot.services.store.confirmations.pending()[0]
        assert conf.approvers == ()
        assert sb.bot.services.store.get_lock("alpha") is not None
        await sb.click(message, user=ALICE, action=CANCEL_ACTION)
        await sb.slack.wait_until(lambda: any("Cancelled:" in t for t in sb.texts()), within=10)


async def test_two_approvals_the_requesters_click_does_not_count(tmp_path: Path) -> None:
    async with slack_bot(tmp_path, **SETUP) as sb:
        sb.slack.add_user(CAROL, "carol")
        sb.slack.set_usergroup("S0RELEASE", {CAROL})
        sb.bot.services.store.lock("beta", holder="alice", reason="freeze")
        await sb.command("unlock beta", user=ALICE)
        message = await sb.confirmation_message()
        assert "someone other than <@U0ALICE>" in str(message.blocks)
        await sb.click(message, user=ALICE)
        await sb.slack.wait_until(
            lambda: any("someone other than you" in t for t in sb.ephemerals(ALICE)), within=10
        )
        assert sb.bot.services.store.get_lock("beta") is not None
        await sb.click(message, user=CAROL)  # holds deploy through the S0RELEASE group
        await sb.slack.wait_until(lambda: any("is unlocked" in t for t in sb.texts()), within=10)
        assert "✅ Approved by <@U0CAROL>" in sb.slack.message(DEPLOYS, message.ts).text


async def test_buttons_expire_and_say_so_when_clicked_late(tmp_path: Path) -> None:
    async with slack_bot(tmp_path, slack={"confirm_timeout": "300ms"}, **SETUP) as sb:
        sb.bot.services.store.lock("alpha", holder="alice", reason="freeze")
        await sb.command("unlock alpha", user=ALICE)
        message = await sb.confirmation_message()
        await sb.slack.wait_until(
            lambda: "Expired" in sb.slack.message(DEPLOYS, message.ts).text, within=10
        )
        await sb.click(message, user=ALICE)
        await sb.slack.wait_until(
            lambda: any("expired" in t for t in sb.ephemerals(ALICE)), within=10
        )
        assert sb.bot.services.store.get_lock("alpha") is not None


async def test_a_double_click_and_a_retried_delivery_run_the_work_once(tmp_path: Path) -> None:
    async with slack_bot(tmp_path, **SETUP) as sb:
        store = sb.bot.services.store
        store.lock("alpha", holder="alice", reason="freeze")
        status, _, fields = await sb.command("unlock alpha", user=ALICE)
        retried, _, _ = await sb.command("unlock alpha", user=ALICE, retry_of=fields)
        assert (status, retried) == (200, 200)
        message = await sb.confirmation_message()
        _, payload = await sb.click(message, user=ALICE)
        results = await asyncio.gather(
            sb.click(message, user=ALICE),
            sb.click(message, user=ALICE, payload=payload, retry=True),
        )
        assert [r[0] for r in results] == [200, 200]
        await sb.slack.wait_until(lambda: any("is unlocked" in t for t in sb.texts()), within=10)
        await wait_until(lambda: len(sb.ephemerals(ALICE)) >= 2, what="the 'already' notes")
        await sb.bot.services.outbox.wait_delivered(timeout=5)
        assert sum("is unlocked" in t for t in sb.texts()) == 1
        assert (
            len([m for m in sb.slack.messages(DEPLOYS) if "Approve" in str(m.revisions[0].blocks)])
            == 1
        )
        unlocks = [e for e in store.recent_audit(10) if e.command == "unlock"]
        assert [e.outcome for e in unlocks] == ["ok"]
        assert any("Already approved" in t for t in sb.ephemerals(ALICE))


async def test_user_groups_are_cached(tmp_path: Path) -> None:
    async with slack_bot(tmp_path, **SETUP) as sb:
        sb.slack.add_user(CAROL, "carol")
        sb.slack.set_usergroup("S0RELEASE", {CAROL})
        for n in range(3):
            await sb.command(f"lock alpha freeze {n}" if n == 0 else "status", user=CAROL)
        await sb.slack.wait_until(lambda: sum("locked" in t for t in sb.texts()) >= 2, within=10)
        assert sb.bot.services.store.get_lock("alpha") is not None
        assert sb.slack.count("usergroups.users.list") == 1


async def test_rate_limited_posts_wait_for_retry_after_and_arrive_once(tmp_path: Path) -> None:
    async with slack_bot(tmp_path, **SETUP) as sb:
        sb.slack.fail_next("chat.postMessage", status=429, retry_after=2)
        await sb.command("status", user=ALICE)
        await sb.slack.wait_until(lambda: any("Outbox" in t for t in sb.texts()), within=15)
        first, second = sb.slack.calls("chat.postMessage")[:2]
        assert first.status == 429 and second.error is None
        assert second.received_at - first.received_at >= 2.0
        assert sum("Outbox" in t for t in sb.texts()) == 1


async def test_a_channel_the_bot_cannot_post_in_is_explained_to_the_user(tmp_path: Path) -> None:
    async with slack_bot(tmp_path, **SETUP) as sb:
        sb.slack.add_channel("C0PRIVATE", "secret", is_private=True, bot_is_member=False)
        await sb.command("status", user=ALICE, channel="C0PRIVATE")
        await sb.slack.wait_until(
            lambda: any("I could not post here" in t for t in sb.ephemerals(ALICE)), within=10
        )
        store = sb.bot.services.store
        await wait_until(lambda: bool(store.dead_items()), what="the parked item")
        assert "slack:C0PRIVATE" == store.dead_items()[0].destination


async def test_socket_mode_receives_a_slash_command_and_answers(tmp_path: Path) -> None:
    async with slack_bot(
        tmp_path, slack={"app_token": "xapp-test", "signing_secret": None}, **SETUP
    ) as sb:
        await sb.slack.wait_for_socket()
        envelope = await sb.slack.socket_send_slash_command("help", user_id=ALICE)
        ack = await sb.slack.wait_for_ack(envelope)
        assert ack.envelope_id == envelope
        await sb.slack.wait_until(lambda: any("Commands:" in t for t in sb.texts()), within=10)


async def test_socket_mode_without_a_signing_secret_serves_no_unverifiable_endpoint(
    tmp_path: Path,
) -> None:
    async with slack_bot(
        tmp_path, slack={"app_token": "xapp-test", "signing_secret": None}, **SETUP
    ) as sb:
        await sb.slack.wait_for_socket()
        forged = slash_command_body(sb.slack.slash_command("lock alpha forged", user_id=ALICE))
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        async with sb.http.post(sb.events_url, data=forged, headers=headers) as resp:
            assert resp.status == 404
        assert sb.bot.services.store.get_lock("alpha") is None


async def test_a_command_mentioning_payload_is_not_lost(tmp_path: Path) -> None:
    # slack-bolt 1.30 mistakes such a body for an interactivity request
    async with slack_bot(tmp_path, **SETUP) as sb:
        status, _, _ = await sb.command("lock alpha payload migration", user=ALICE)
        assert status == 200
        await sb.slack.wait_until(lambda: any("is locked" in t for t in sb.texts()), within=10)
        lock = sb.bot.services.store.get_lock("alpha")
        assert lock is not None and lock.reason == "payload migration"


async def test_long_work_updates_one_message_in_place_with_details_in_its_thread(
    tmp_path: Path,
) -> None:
    registry = Registry()

    @registry.command("rollout")
    async def rollout(ctx: Context) -> None:
        """Pretend to roll 4 validators."""
        ref = await ctx.reply("validators 0/4 ready ░░░░")
        for n in range(1, 5):
            await ctx.update(ref, f"validators {n}/4 ready " + "▓" * n + "░" * (4 - n))
            await ctx.reply_in_thread(ref, f"validator-{n} is Ready")

    async with slack_bot(tmp_path, registry=registry, **SETUP) as sb:
        await sb.command("rollout", user=ALICE)
        await sb.slack.wait_until(
            lambda: any(t.startswith("validators 4/4") for t in sb.texts()), within=15
        )
        root_ts = sb.slack.messages(DEPLOYS)[0].ts
        await sb.slack.wait_until(
            lambda: len(sb.slack.messages(DEPLOYS, thread_ts=root_ts)) >= 4, within=15
        )
        root = sb.slack.messages(DEPLOYS)[0]
        assert root.text == "validators 4/4 ready ▓▓▓▓"
        assert 1 <= root.edits <= 4  # edits queued behind the rate limit collapse
        thread = sb.slack.messages(DEPLOYS, thread_ts=root.ts)
        assert [m.text for m in thread][-4:] == [f"validator-{n} is Ready" for n in range(1, 5)]
        assert sb.slack.count("chat.postMessage") == 5


async def test_a_revoked_token_is_logged_clearly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with slack_bot(tmp_path, **SETUP) as sb:
        await sb.command("help", user=ALICE)  # bolt checks the token once, on first use
        await sb.slack.wait_until(lambda: any("Commands:" in t for t in sb.texts()), within=10)
        sb.slack.revoke(sb.slack.bot_token)
        await sb.command("status", user=ALICE)
        store = sb.bot.services.store
        await wait_until(lambda: bool(store.dead_items()), what="the refused post")
        assert "token_revoked" in store.dead_items()[0].last_error
        assert any(
            "token_revoked" in r.getMessage() and "reinstall" in r.getMessage()
            for r in caplog.records
        )
        assert sb.slack.bot_token not in caplog.text


async def test_a_missing_scope_is_logged_and_the_group_counts_as_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with slack_bot(tmp_path, **SETUP) as sb:
        sb.slack.add_user(CAROL, "carol")
        sb.slack.set_usergroup("S0RELEASE", {CAROL})
        sb.slack.scopes.discard("usergroups:read")
        await sb.command("lock alpha x", user=CAROL)
        await sb.slack.wait_until(
            lambda: any("You need the `deploy` permission" in t for t in sb.ephemerals(CAROL)),
            within=10,
        )
        assert any(
            "usergroups:read" in r.getMessage() or "missing_scope" in r.getMessage()
            for r in caplog.records
        )
        assert sb.bot.services.store.get_lock("alpha") is None


async def test_a_token_revoked_before_start_is_explained_in_the_ack(tmp_path: Path) -> None:
    async with slack_bot(tmp_path, **SETUP) as sb:
        sb.slack.revoke(sb.slack.bot_token)
        fields = sb.slack.slash_command("status", user_id=ALICE)
        request = signed_slash_command(fields, SECRET)
        async with sb.http.post(sb.events_url, data=request.body, headers=request.headers) as resp:
            body = await resp.text()
        assert "reinstall the app" in body
        assert sb.bot.services.store.recent_audit(5) == []


def _malformed_cases(slack: Any) -> list[tuple[str, bytes, str]]:
    """(name, body, content type) of requests a client may sign that carry nothing usable."""
    form = "application/x-www-form-urlencoded"
    ok_fields = slack.slash_command("status", user_id=ALICE)
    no_user = {k: v for k, v in ok_fields.items() if k != "user_id"}
    bad_action = {"type": "block_actions", "user": {"id": ALICE}, "actions": [1]}
    return [
        ("not UTF-8", b"command=%2Ftestnet&text=\xff\xfe", form),
        ("payload=[1]", b"payload=%5B1%5D", form),
        ("payload not JSON", b"payload=%7Bnope", form),
        ("JSON true", b"true", "application/json"),
        ("JSON list", b"[1, 2]", "application/json"),
        ("JSON event with a non-object event", b'{"type":"event_callback","event":1}', form),
        ("team is a number", b'{"type":"block_actions","team":5}', "application/json"),
        ("slash command without user", slash_command_body(no_user), form),
        ("block action without actions", block_actions_body({"type": "block_actions"}), form),
        ("action that is not an object", block_actions_body(bad_action), form),
        ("empty body", b"", form),
    ]


async def test_signed_but_malformed_requests_get_400_and_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with slack_bot(tmp_path, **SETUP) as sb:
        at_start = len(sb.slack.calls())
        for name, body, content_type in _malformed_cases(sb.slack):
            caplog.clear()
            headers = signed_headers(body, SECRET, content_type=content_type)
            async with sb.http.post(sb.events_url, data=body, headers=headers) as resp:
                assert resp.status == 400, name
                assert "error" in await resp.json(), name
            assert not [r for r in caplog.records if r.levelno >= logging.ERROR], name
            assert any(
                r.levelname == "WARNING" and "rejected a Slack request" in r.getMessage()
                for r in caplog.records
            ), name
            forged = signed_headers(body, SECRET + "-wrong", content_type=content_type)
            async with sb.http.post(sb.events_url, data=body, headers=forged) as resp:
                assert resp.status == 401, name
        for timestamp in ("soon", "１２３", "1e9", "-1", "9" * 40):
            body = slash_command_body(sb.slack.slash_command("status", user_id=ALICE))
            headers = signed_headers(body, SECRET)
            headers["X-Slack-Request-Timestamp"] = timestamp
            async with sb.http.post(sb.events_url, data=body, headers=headers) as resp:
                assert resp.status == 401, timestamp
        assert len(sb.slack.calls()) == at_start
        assert sb.bot.services.store.recent_audit(5) == []


async def test_a_replayed_command_does_not_run_again_after_a_restart(tmp_path: Path) -> None:
    async with slack_bot(tmp_path, **SETUP) as sb:
        fields = sb.slack.slash_command("lock alpha release freeze", user_id=ALICE)
        request = signed_slash_command(fields, SECRET)
        async with sb.http.post(sb.events_url, data=request.body, headers=request.headers) as r:
            assert r.status == 200
        await sb.slack.wait_until(lambda: any("is locked" in t for t in sb.texts()), within=10)
        await sb.bot.services.outbox.wait_delivered(timeout=5)
        sb.bot.services.store.unlock("alpha")
    async with slack_bot(tmp_path, **SETUP) as sb:
        store = sb.bot.services.store
        audited = len(store.recent_audit(50))
        for retry in (None, 1):  # the same request replayed, and Slack's retry of it
            replay = signed_slash_command(fields, SECRET, retry_num=retry)
            async with sb.http.post(sb.events_url, data=replay.body, headers=replay.headers) as r:
                assert r.status == 200
        # the bad case next to it: a new command after the restart runs
        status, _, _ = await sb.command("status", user=ALICE)
        assert status == 200
        await wait_until(lambda: len(store.recent_audit(50)) > audited, what="the new command")
        await sb.bot.services.outbox.wait_delivered(timeout=5)
        entries = store.recent_audit(50)
        assert [e.command for e in entries[: len(entries) - audited]] == ["status"]
        assert store.get_lock("alpha") is None
        assert store.seen.count("slack-command") == 2


async def test_ssl_checks_pass_and_unhandled_payload_types_get_404(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with slack_bot(tmp_path, **SETUP) as sb:
        at_start = len(sb.slack.calls())
        ssl_check = b"ssl_check=1&token=unused"
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        async with sb.http.post(sb.events_url, data=ssl_check, headers=form) as resp:
            assert resp.status == 200  # Slack's certificate check is not signed
        for kind in ("view_submission", "shortcut", "event_callback"):
            body = block_actions_body({"type": kind, "actions": []})
            async with sb.http.post(
                sb.events_url, data=body, headers=signed_headers(body, SECRET)
            ) as resp:
                assert resp.status == 404, kind
            forged = signed_headers(body, SECRET + "-wrong")
            async with sb.http.post(sb.events_url, data=body, headers=forged) as resp:
                assert resp.status == 401, kind
        challenge = b'{"type": "url_verification", "challenge": "c-123", "token": "t"}'
        headers = signed_headers(challenge, SECRET, content_type="application/json")
        async with sb.http.post(sb.events_url, data=challenge, headers=headers) as resp:
            assert resp.status == 200
            assert "c-123" in await resp.text()
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(sb.slack.calls()) == at_start
        assert sb.bot.services.store.recent_audit(5) == []
