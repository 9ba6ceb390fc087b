"""A click on a confirmation's Approve or Cancel button, decided without any SDK:
who may click, what the click changed, what to tell the clicker and what the
confirmation message should say now. Chat adapters carry out the decision."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core import Actor, ConfirmRequest
from bot.permissions import Permissions
from state.confirmations import APPROVED, CANCELLED, EXPIRED, Confirmation, Confirmations
from state.store import Store


@dataclass(frozen=True)
class Decision:
    """What one click means."""

    confirmation: Confirmation | None
    tell: str | None = None
    """A note only the clicker sees."""
    status: str | None = None
    """The confirmation message's new last line."""
    keep_buttons: bool = False
    """Whether the message still takes clicks (waiting for another approver)."""
    settled: bool = False
    """Whether the waiting command can now be told the outcome."""


def decide(
    confirmations: Confirmations, permissions: Permissions, actor: Actor, cid: str, approve: bool
) -> Decision:
    """Check the clicker's permission, record the vote once, and say what follows.

    Approving needs the confirmation's permission; cancelling needs it too, unless the
    clicker asked for the command. A click that changes nothing (a second click, the
    requester approving their own two-person request, an expired request) is told why.
    """
    conf = confirmations.get(cid)
    if conf is None:
        return Decision(None, tell="I do not know this request any more; run the command again.")
    user = actor.id
    allowed = conf.permission is None or permissions.has(actor, conf.permission)
    if approve and not allowed:
        return Decision(
            conf, tell=f"You need the `{conf.permission}` permission to approve `{conf.command}`."
        )
    if not approve and not (allowed or user == conf.requester):
        return Decision(
            conf,
            tell=f"Only <@{conf.requester}> or someone with `{conf.permission}` may cancel this.",
        )
    vote = (confirmations.approve if approve else confirmations.cancel)(cid, user)
    conf = vote.confirmation
    if not vote.changed:
        expired_now = conf.state == EXPIRED and vote.note == EXPIRED
        return Decision(conf, tell=unchanged(conf, vote.note), settled=expired_now)
    if conf.state == APPROVED:
        names = ", ".join(f"<@{a}>" for a in conf.approvers)
        return Decision(conf, status=f"✅ Approved by {names}.", settled=True)
    if conf.state == CANCELLED:
        return Decision(conf, status=f"✖️ Cancelled by <@{user}>.", settled=True)
    return Decision(
        conf,
        status=f"👍 <@{user}> approved; waiting for one more approver.",
        keep_buttons=True,
    )


def unchanged(conf: Confirmation, note: str) -> str:
    """Why a click changed nothing."""
    if note == "requester cannot approve":
        return (
            f"`{conf.command}` needs approval by someone other than you "
            f"({conf.approvals} people in all)."
        )
    if note == "already approved by you":
        return "You already approved this; waiting for someone else."
    if conf.state == EXPIRED:
        return "This confirmation expired; run the command again."
    if conf.state == APPROVED:
        return f"Already approved by {', '.join(f'<@{a}>' for a in conf.approvers)}."
    if conf.state == CANCELLED:
        return f"Already cancelled by <@{conf.decided_by}>."
    return "Nothing changed."


def open_confirmation(
    store: Store, request: ConfirmRequest, destination: str, timeout: float
) -> tuple[Confirmation, str]:
    """Record a confirmation waiting for approvers at ``destination``; return it and the
    key of the prompt message to post."""
    key = store.new_message(destination)
    conf = store.confirmations.create(
        command=request.command,
        plan=request.plan,
        permission=request.permission,
        requester=request.requester.id,
        approvals=request.approvals,
        destination=destination,
        timeout=timeout,
        message_key=key,
    )
    return conf, key
