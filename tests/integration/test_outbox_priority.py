"""Urgent messages first in a busy channel: a confirmation prompt and a new incident's
root message go ahead of other commands' thread replies and edits, through the real
Slack adapter (one post per second per channel) against the Slack fake."""

from __future__ import annotations

import time
from pathlib import Path

from bot.context import Context
from bot.registry import Registry
from tests.fakes.alert_payloads import alert
from tests.fakes.slack_api import ALICE, DEPLOYS, INCIDENTS, FakeMessage
from tests.integration.incident_harness import incident_bot
from tests.integration.slack_harness import slack_bot

SETUP = {
    "networks": {"alpha": {"namespace": "alpha", "image": "x"}},
    "roles": {"admin": {"slack_users": [ALICE]}},
    "permissions": {"deploy": ["admin"]},
}


def chatty_registry() -> Registry:
    """A registry with ``chatty`` (one reply, then 5 thread replies and 5 edits) and a
    dangerous ``drill`` that asks for confirmation."""
    registry = Registry()

    @registry.command("chatty")
    async def chatty(ctx: Context) -> None:
        """Report a lot of progress."""
        ref = await ctx.reply("progress 0/5")
        for n in range(1, 6):
            await ctx.reply_in_thread(ref, f"step {n} done")
            await ctx.update(ref, f"progress {n}/5")

    async def plan(ctx: Context) -> str:
        return "Run the drill on alpha."

    @registry.command("drill", permission="deploy", dangerous=True, plan=plan)
    async def drill(ctx: Context) -> None:
        """A dangerous command."""
        await ctx.reply("drill done")

    return registry


async def test_the_approve_prompt_goes_before_a_burst_of_progress(tmp_path: Path) -> None:
    async with slack_bot(tmp_path, registry=chatty_registry(), **SETUP) as sb:
        for _ in range(3):
            await sb.command("chatty", user=ALICE)
        # 3 first replies and 15 thread replies are queued behind 1-per-second pacing.
        store = sb.bot.services.store
        await sb.slack.wait_until(lambda: len(sb.slack.messages(DEPLOYS)) >= 1, within=10)
        await sb.command("drill", user=ALICE)
        asked = time.monotonic()
        prompt = await sb.confirmation_message()
        waited = time.monotonic() - asked
        posts = sb.slack.calls("chat.postMessage")
        prompt_at = next(i for i, c in enumerate(posts) if c.params.get("text") == prompt.text)
        thread_replies_before = [
            c for c in posts[:prompt_at] if str(c.params.get("text", "")).startswith("step")
        ]
        pending = store.outbox_counts(delivered=False).get((f"slack:{DEPLOYS}", "pending"), 0)
        assert pending >= 10, "the burst is still being delivered"
        assert len(thread_replies_before) <= 3, [c.params["text"] for c in posts[:prompt_at]]
        assert waited < 6.0, f"the prompt took {waited:.1f}s behind the burst"


async def test_thread_replies_and_edits_never_overtake_their_own_message(tmp_path: Path) -> None:
    async with slack_bot(tmp_path, registry=chatty_registry(), **SETUP) as sb:
        await sb.command("chatty", user=ALICE)
        await sb.command("chatty", user=ALICE)

        def roots() -> list[FakeMessage]:
            return [m for m in sb.slack.messages(DEPLOYS) if m.thread_ts in (None, m.ts)]

        await sb.slack.wait_until(lambda: len(roots()) == 2, within=10)
        assert await sb.bot.services.outbox.wait_delivered(timeout=60)
        assert [m.text for m in roots()] == ["progress 5/5", "progress 5/5"]
        for root in roots():
            thread = [m.text for m in sb.slack.messages(DEPLOYS, thread_ts=root.ts)]
            assert thread[-5:] == [f"step {n} done" for n in range(1, 6)]  # in order


async def test_a_new_incident_root_goes_before_other_incidents_updates(tmp_path: Path) -> None:
    async with incident_bot(tmp_path) as ib:
        # Four open incidents whose threads and roots keep the channel busy.
        for n in range(4):
            await ib.fire([alert({"alertname": f"Busy{n}", "network": f"net{n}"})])
        await ib.sb.slack.wait_until(lambda: len(ib.roots()) == 4, within=15)
        for incident in ib.store.incidents.listing(open_only=True):
            ib.desk.acknowledge(incident.id, "carol")
        channel = (f"slack:{INCIDENTS}", "pending")
        assert ib.store.outbox_counts(delivered=False).get(channel, 0) >= 8
        fired = time.monotonic()
        await ib.fire([alert({"alertname": "BlockProductionStalled", "network": "alpha"})])
        await ib.sb.slack.wait_until(
            lambda: any("(alpha)" in m.revisions[0].text for m in ib.roots()), within=10
        )
        waited = time.monotonic() - fired
        pending = ib.store.outbox_counts(delivered=False).get(channel, 0)
        assert pending >= 4, "the channel is still busy with the other incidents"
        assert waited < 5.0, f"the new root took {waited:.1f}s"
        await ib.delivered(timeout=60)
        assert len(ib.roots()) == 5
        for root in ib.roots()[:4]:
            assert ib.thread(root)[-1] == "👀 Acked by carol."  # replies kept their order
