"""A click on Approve or Cancel: permission first, each vote once, the right note."""

from __future__ import annotations

from pathlib import Path

from bot.config import BotConfig
from bot.core import Actor
from bot.permissions import Permissions
from integrations.chat.votes import decide
from state.store import Store

CONFIG = BotConfig.model_validate(
    {
        "roles": {"admin": {"shell_users": ["root"]}, "release": {"discord_roles": [7]}},
        "permissions": {"deploy": ["release"], "admin": ["admin"]},
    }
)
ALICE = Actor("discord", "1", "alice", frozenset({"7"}))
BOB = Actor("discord", "2", "bob", frozenset({"7"}))
EVE = Actor("discord", "3", "eve")


def _store(tmp_path: Path, clock: list[float]) -> Store:
    return Store.open(tmp_path / "votes.db", lambda: clock[0])


def test_two_people_are_needed_and_each_counts_once(tmp_path: Path) -> None:
    clock = [100.0]
    store = _store(tmp_path, clock)
    perms = Permissions(CONFIG)
    conf = store.confirmations.create(command="deploy", plan="p", permission="deploy", requester="1",
                                      approvals=2, destination="discord:9", timeout=60, message_key="k")
    stranger = decide(store.confirmations, perms, EVE, conf.id, True)
    assert "`deploy` permission" in (stranger.tell or "") and not stranger.settled
    own = decide(store.confirmations, perms, ALICE, conf.id, True)
    assert "someone other than you" in (own.tell or "") and own.status is None
    second = decide(store.confirmations, perms, BOB, conf.id, True)
    assert second.settled and second.status is not None and "<@2>" in second.status
    again = decide(store.confirmations, perms, BOB, conf.id, True)
    assert again.tell is not None and again.status is None and not again.settled
    store.close()


def test_cancel_by_the_requester_and_an_expired_request(tmp_path: Path) -> None:
    clock = [100.0]
    store = _store(tmp_path, clock)
    perms = Permissions(CONFIG)
    make = dict(command="deploy", plan="p", permission="deploy", requester="3", approvals=1,
                destination="discord:9", timeout=60, message_key=None)
    mine = store.confirmations.create(**make)  # type: ignore[arg-type]
    cancelled = decide(store.confirmations, perms, EVE, mine.id, False)  # no permission, but asked
    assert cancelled.settled and "Cancelled by <@3>" in (cancelled.status or "")
    late = store.confirmations.create(**make)  # type: ignore[arg-type]
    clock[0] += 61
    expired = decide(store.confirmations, perms, ALICE, late.id, True)
    assert expired.settled and "expired" in (expired.tell or "")
    unknown = decide(store.confirmations, perms, ALICE, "feedface", True)
    assert unknown.confirmation is None and "run the command again" in (unknown.tell or "")
    store.close()
