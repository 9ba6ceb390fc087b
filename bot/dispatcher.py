"""Turns an :class:`Invocation` into a handler call: parse, permission, confirm,
audit, run. The only place that decides what a user sees when a command fails."""

from __future__ import annotations

import asyncio
import difflib
import logging
import time

from bot import messages
from bot.context import Context, Services
from bot.core import ConfirmRequest, Invocation, Outcome
from bot.errors import AlreadyReported, CommandError, PermissionDenied, UsageError
from bot.logs import log_context
from bot.registry import CommandSpec
from bot.words import UnclosedQuote, split_words

log = logging.getLogger("testnet_bot.dispatcher")
PREFIXES = ("/testnet", "testnet")


HELP_OPTIONS = frozenset({"--help", "-h"})
SUGGEST_CUTOFF = 0.75
"""How alike (difflib ratio) a typed word must be to a command to be suggested:
``stauts`` → ``status``, ``deploi`` → ``deploy``; ``hello`` → nothing."""


def suggest(word: str, names: list[str], cutoff: float = SUGGEST_CUTOFF) -> str | None:
    """The command name closest to what was typed, if it is at least ``cutoff`` alike."""
    firsts = sorted({n.split()[0] for n in names})
    match = difflib.get_close_matches(word, firsts, n=1, cutoff=cutoff)
    return match[0] if match else None


class Dispatcher:
    """Runs commands for every adapter."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def submit(self, invocation: Invocation) -> asyncio.Task[Outcome]:
        """Dispatch in a named, supervised task (adapters that must ack first use this)."""
        return self.services.supervisor.spawn(
            f"command:{invocation.trace_id}", self.dispatch(invocation)
        )

    async def dispatch(self, invocation: Invocation) -> Outcome:
        """Run one command to the end and return how it ended; never raises for the
        command's own failures (the user is told, the audit log records it)."""
        with log_context(trace_id=invocation.trace_id, actor=str(invocation.actor)):
            started = time.perf_counter()
            spec: CommandSpec | None = None
            detail = ""
            try:
                words = _words(invocation.text)
                spec, rest = self.services.registry.resolve(words)
                if spec is None:
                    outcome, detail = await self._unknown(invocation, words)
                else:
                    with log_context(command=spec.name):
                        outcome, detail = await self._run(invocation, spec, rest)
            except UsageError as exc:
                outcome, detail = Outcome.USAGE, exc.message
                await invocation.responder.reply_private(exc.message)
            except asyncio.CancelledError:
                self._record(invocation, spec, Outcome.CANCELLED, "interrupted", started)
                raise
            self._record(invocation, spec, outcome, detail, started)
            return outcome

    async def _unknown(self, invocation: Invocation, words: list[str]) -> tuple[Outcome, str]:
        text = messages.UNKNOWN_COMMAND.format(name=words[0])
        names = list(self.services.registry.names())
        if suggestion := suggest(words[0], names):
            text += messages.DID_YOU_MEAN.format(suggestion=suggestion)
        text += messages.SEE_HELP
        await invocation.responder.reply_private(text)
        return Outcome.UNKNOWN, words[0]

    async def _run(
        self, invocation: Invocation, spec: CommandSpec, rest: list[str]
    ) -> tuple[Outcome, str]:
        ctx = Context(invocation, self.services)
        responder = invocation.responder
        if HELP_OPTIONS.intersection(rest):
            registry = self.services.registry
            await responder.reply(spec.help_text(registry.under(spec.path)))
            return Outcome.OK, "help"
        try:
            kwargs = spec.parse(rest)
        except UsageError as exc:
            await responder.reply_private(
                messages.USAGE.format(error=exc.message, usage=spec.usage())
            )
            return Outcome.USAGE, exc.message
        network = kwargs.get("network") if spec.network_param else None
        with log_context(network=network if isinstance(network, str) else None):
            try:
                if spec.permission is not None:
                    self.services.permissions.require(invocation.actor, spec.permission, spec.name)
                if spec.dangerous and not kwargs.get("dry_run"):
                    cancelled = await self._confirm(ctx, spec, kwargs)
                    if cancelled is not None:
                        return Outcome.CANCELLED, cancelled
                await spec.handler(ctx, **kwargs)
                return Outcome.OK, ""
            except PermissionDenied as exc:
                await responder.reply_private(exc.message)
                return Outcome.DENIED, exc.permission
            except UsageError as exc:
                await responder.reply_private(
                    messages.USAGE.format(error=exc.message, usage=spec.usage())
                )
                return Outcome.USAGE, exc.message
            except AlreadyReported as exc:
                return Outcome.FAILED, exc.message
            except CommandError as exc:
                await responder.reply(exc.message)
                return Outcome.FAILED, exc.message
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("command failed", extra={"event": "command_error"})
                await responder.reply(
                    messages.INTERNAL_ERROR.format(command=spec.name, trace_id=invocation.trace_id)
                )
                return Outcome.ERROR, "internal error"

    async def _confirm(
        self, ctx: Context, spec: CommandSpec, kwargs: dict[str, object]
    ) -> str | None:
        """Ask for approval; return why it was not given, or None when approved."""
        if spec.plan is not None:
            plan = await spec.plan(ctx, **kwargs)
        else:
            plan = messages.CONFIRM_DEFAULT.format(text=_display(ctx.invocation.text))
        approvals = 1
        network = kwargs.get("network")
        if isinstance(network, str) and network in ctx.config.networks:
            approvals = ctx.config.networks[network].approvals
        elif network is None and spec.network_param:
            try:
                approvals = ctx.network(None)[1].approvals
            except CommandError:
                pass
        result = await ctx.confirm(
            ConfirmRequest(
                command=spec.name,
                plan=plan,
                permission=spec.permission,
                requester=ctx.invocation.actor,
                approvals=approvals,
            )
        )
        if result.approved:
            ctx.approvers = result.approvers
            return None
        reason = result.reason or "not approved"
        await ctx.reply(messages.CANCELLED.format(command=spec.name, reason=reason))
        return reason

    def _record(
        self,
        invocation: Invocation,
        spec: CommandSpec | None,
        outcome: Outcome,
        detail: str,
        started: float,
    ) -> None:
        name = spec.name if spec else "(unknown)"
        elapsed = time.perf_counter() - started
        self.services.store.audit(
            trace_id=invocation.trace_id,
            platform=invocation.actor.platform,
            actor=invocation.actor.id,
            command=name,
            args=_display(invocation.text)[:500],
            outcome=outcome.value,
            detail=detail[:500],
        )
        self.services.metrics.command_done(name, outcome.value, elapsed)
        log.info(
            "command %s: %s",
            name,
            outcome.value,
            extra={"event": "command_done", "outcome": outcome.value, "seconds": round(elapsed, 4)},
        )


_QUOTING = frozenset("\"'\\“”„‘’«»")


def _words(text: str) -> list[str]:
    if _QUOTING.isdisjoint(text):
        words: list[str] = text.split()  # what split_words would give, much faster
    else:
        try:
            words = list(split_words(text))
        except UnclosedQuote as exc:
            raise UsageError(messages.UNPARSEABLE.format(reason=exc)) from None
    if words and words[0] in PREFIXES:
        words = words[1:]
    if not words:
        raise UsageError(messages.EMPTY_COMMAND)
    return words


def _display(text: str) -> str:
    """The command text without the ``/testnet`` prefix."""
    stripped = text.strip()
    for prefix in PREFIXES:
        if stripped.startswith(prefix + " ") or stripped == prefix:
            return stripped[len(prefix) :].strip()
    return stripped
