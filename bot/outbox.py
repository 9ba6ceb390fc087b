"""Durable delivery of everything the bot sends out.

Producers :meth:`Outbox.enqueue` operations (post, update, thread reply, a GitHub
call...) into SQLite; :class:`Outbox` runs a worker that delivers them through the
:class:`Delivery` registered for the destination's kind (the part before ``:``, e.g.
``slack`` in ``slack:C0123``).

Order: items are delivered one at a time per *lane* (by default the destination, so a
Slack channel is one lane; GitHub items get one lane per issue). Within a lane the
most urgent item goes first (:class:`~state.records.Priority`: prompts and incident
roots, then replies, then edits), in queue order among equals; an edit or a thread
reply never overtakes its own message. A lane's edits queue beside its posts (Slack
paces the two apart), so a stream of posts does not starve them; an edit waits until
its message is posted. Lanes proceed independently: an item backing off holds up
only its lane.

An item is marked delivered only after the destination accepted it. Before each
attempt the item is durably flagged as "maybe sent", so a delivery can tell a first
attempt from one whose outcome was lost (a timeout, a crash) and look before sending
again. Failures are retried with exponential backoff and jitter, never before a
``Retry-After``; a rate limit may pause the whole route. Paced routes keep their
send times and pauses in SQLite, so a restart does not burst past a limit. An item
that keeps failing is parked as dead and shows in ``/testnet status``. Items survive
a crash: a restarted worker picks them up where they were.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.config import OutboxConfig
from bot.metrics import Metrics
from bot.tasks import TaskSupervisor
from state.db import transaction
from state.records import OutboxItem, Priority
from state.store import Store

log = logging.getLogger("testnet_bot.outbox")
SCAN_RETRY = 1.0
"""Seconds before the worker scans again after the database refused a scan."""


class RetryLater(Exception):
    """The destination refused for now; retry after ``retry_after`` seconds if given.

    ``maybe_sent`` False says the destination surely did not act on the item (it
    answered with a refusal); None means it may have. ``pause_route`` holds every
    item of the route's pacing scope (a rate limit), not only this one.
    """

    def __init__(
        self,
        reason: str,
        retry_after: float | None = None,
        *,
        maybe_sent: bool | None = None,
        pause_route: bool = False,
    ) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.maybe_sent = maybe_sent
        self.pause_route = pause_route


class PermanentFailure(Exception):
    """The destination will never accept this item; park it as dead at once."""


class Delivery(Protocol):
    """Sends one outbox item to one kind of destination."""

    async def deliver(self, item: OutboxItem, context: DeliveryContext) -> dict[str, Any] | None:
        """Deliver ``item``; return the platform's reference for a new message (or None).

        Raise :class:`RetryLater` or :class:`PermanentFailure`; any other exception
        counts as a transient failure.
        """
        ...


@dataclass
class DeliveryContext:
    """What a delivery may need beyond the item: refs of earlier messages."""

    store: Store

    def ref(self, message_key: str | None) -> dict[str, Any] | None:
        """The platform reference of a message the outbox posted earlier."""
        return self.store.message_ref(message_key) if message_key else None


@dataclass
class RateLimit:
    """At most ``count`` deliveries per ``per`` seconds (a sliding window)."""

    count: int
    per: float
    applies_to: Callable[[OutboxItem], bool] = field(default=lambda item: True)
    _sent: deque[float] = field(default_factory=deque)

    def next_free(self, item: OutboxItem, now: float) -> float:
        """When ``item`` may next be sent (``now`` if it may go at once)."""
        if not self.applies_to(item):
            return now
        while self._sent and self._sent[0] <= now - self.per:
            self._sent.popleft()
        if len(self._sent) < self.count:
            return now
        return self._sent[0] + self.per

    def record(self, item: OutboxItem, now: float) -> None:
        """Count a send."""
        if self.applies_to(item):
            self._sent.append(now)


@dataclass
class Route:
    """How one kind of destination is delivered to and how fast."""

    delivery: Delivery
    limits: list[RateLimit] = field(default_factory=list)
    per_destination: bool = True
    """Limits apply to each destination (e.g. each Slack channel) separately."""
    durable_pacing: bool = False
    """Keep send times and pauses in SQLite, so the limits hold across restarts."""
    max_in_flight: int | None = None
    """At most this many deliveries of the route at once (None: one per lane)."""


def _lane_key(item: OutboxItem) -> str:
    """What one delivery at a time is kept per: the item's lane, with edits apart."""
    lane = item.lane or item.destination
    return f"{lane}#edits" if item.op == "update" else lane


class Outbox:
    """The queue (for producers) and the delivery worker (one per process)."""

    def __init__(
        self,
        store: Store,
        config: OutboxConfig,
        metrics: Metrics,
        supervisor: TaskSupervisor,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.metrics = metrics
        self.supervisor = supervisor
        self.clock = clock
        self._rng = rng or random.Random()
        self._routes: dict[str, Route] = {}
        self._limits: dict[str, list[RateLimit]] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._inflight: dict[str, asyncio.Task[None]] = {}
        """Deliveries under way, by lane."""
        self._route_load: dict[int, int] = {}
        """Deliveries under way, by route (``id()`` of the Route)."""
        self._paused: dict[str, float] = {}
        self._worker: asyncio.Task[None] | None = None
        self._queued: set[str] = set()
        """Lanes whose head item the worker already tracks (in flight or waiting for
        its time): a new item for one of them needs no rescan."""

    # -- producers -----------------------------------------------------------

    def add_route(self, kind: str, route: Route) -> None:
        """Deliver destination ``kind`` (exactly, or ``kind:*``) through ``route``."""
        self._routes[kind] = route
        self.wake()

    def enqueue(
        self,
        destination: str,
        op: str,
        payload: dict[str, Any],
        *,
        message_key: str | None = None,
        dedupe_key: str | None = None,
        priority: int | None = None,
        lane: str | None = None,
    ) -> int | None:
        """Store one operation durably and wake the worker; return its id (None if a
        ``dedupe_key`` duplicate). See :meth:`Store.enqueue` for ``priority`` and
        ``lane``."""
        item_id = self.store.enqueue(
            destination,
            op,
            payload,
            message_key=message_key,
            dedupe_key=dedupe_key,
            priority=priority,
            lane=lane,
        )
        self._added(lane or destination, urgent=priority == Priority.URGENT)
        return item_id

    def post(
        self, destination: str, payload: dict[str, Any], *, priority: int | None = None
    ) -> str:
        """Queue a new message that may be edited later; return its message key
        (the key and the item are written in one transaction)."""
        with transaction(self.store.conn):
            key = self.store.new_message(destination)
            self.store.enqueue(destination, "post", payload, message_key=key, priority=priority)
        self._added(destination, urgent=priority == Priority.URGENT)
        return key

    def _added(self, lane: str, *, urgent: bool = False) -> None:
        # Behind a tracked head the item waits its turn: when the head is delivered
        # (or its timer fires) the worker rescans anyway. Skipping the wake keeps a
        # burst of messages to a rate-limited channel from rescanning per message.
        # An urgent item may displace the head, so it always wakes the worker.
        if lane in self._queued and not urgent:
            self._idle.clear()
        else:
            self.wake()

    def wake(self) -> None:
        """Tell the worker there may be work (after writes made outside ``enqueue``)."""
        self._idle.clear()
        self._wake.set()

    async def wait_delivered(self, destination: str | None = None, timeout: float = 30.0) -> bool:
        """Wait until nothing is pending (for ``destination``, or at all); False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            if not self._pending(destination):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._idle.clear()
            try:
                await asyncio.wait_for(self._idle.wait(), min(remaining, 0.5))
            except TimeoutError:
                pass

    def _pending(self, destination: str | None) -> bool:
        counts = self.store.outbox_counts(delivered=False)
        return any(
            n
            for (dest, state), n in counts.items()
            if state == "pending" and (destination is None or dest == destination)
        )

    # -- worker --------------------------------------------------------------

    def start(self) -> None:
        """Start the delivery worker (a supervised task)."""
        if self._worker is None:
            self._worker = self.supervisor.spawn("outbox-worker", self._run())

    async def stop(self) -> None:
        """Stop the worker; items in flight stay pending and are retried next start."""
        tasks = [t for t in (self._worker, *self._inflight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._worker = None
        self._inflight.clear()
        self._route_load.clear()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                delay = self._start_due()
            except Exception:  # e.g. "database is locked": log, retry, never die
                log.exception("outbox scan failed", extra={"event": "outbox_scan_error"})
                delay = SCAN_RETRY
            if not self._inflight and delay is None:
                self._idle.set()
            try:  # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel
                async with asyncio.timeout(delay if delay is not None else 3600):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def _start_due(self) -> float | None:
        """Start deliveries that are due; return seconds until the next one is."""
        now = self.clock()
        next_due: float | None = None
        self._queued = set()
        for item in self.store.outbox_heads():
            route = self._route(item.destination)
            if route is None:
                continue
            lane = _lane_key(item)
            self._queued.add(item.lane or item.destination)
            if lane in self._inflight:
                continue
            if item.op == "update" and not self._posted(item):
                continue  # its message goes first; that delivery rescans
            if route.max_in_flight is not None:
                if self._route_load.get(id(route), 0) >= route.max_in_flight:
                    continue  # a delivery of the route finishing rescans
            scope = self._scope(item.destination, route)
            due = max(
                item.next_attempt_at, self._paused_until(scope), *self._free_at(item, route, now)
            )
            if due > now:
                wait = due - now
                next_due = wait if next_due is None else min(next_due, wait)
                continue
            for index, limit in enumerate(self._limits_for(item.destination, route)):
                if limit.applies_to(item):
                    limit.record(item, now)
                    if route.durable_pacing:
                        self.store.record_send(f"{scope}#{index}", now, keep=limit.per)
            self._route_load[id(route)] = self._route_load.get(id(route), 0) + 1
            self._inflight[lane] = self.supervisor.spawn(
                f"outbox:{lane}", self._deliver(item, route)
            )
        return next_due

    def _posted(self, item: OutboxItem) -> bool:
        """False while the message an edit belongs to is still waiting to be posted."""
        key = item.message_key
        if key is None or self.store.message_ref(key) is not None:
            return True
        return not self.store.message_alive(key)  # a dead post: let the edit fail fast

    def _route(self, destination: str) -> Route | None:
        return self._routes.get(destination) or self._routes.get(destination.split(":", 1)[0])

    @staticmethod
    def _scope(destination: str, route: Route) -> str:
        """What the route's limits and pauses count over: the destination or its kind."""
        return destination if route.per_destination else destination.split(":", 1)[0]

    def _limits_for(self, destination: str, route: Route) -> list[RateLimit]:
        if not route.limits:
            return []
        key = self._scope(destination, route)
        if key not in self._limits:
            now = self.clock()
            limits = []
            for index, limit in enumerate(route.limits):
                fresh = RateLimit(limit.count, limit.per, limit.applies_to)
                if route.durable_pacing:  # sends of an earlier process still count
                    fresh._sent.extend(self.store.recent_sends(f"{key}#{index}", now - limit.per))
                limits.append(fresh)
            self._limits[key] = limits
        return self._limits[key]

    def _paused_until(self, scope: str) -> float:
        if scope not in self._paused:
            self._paused[scope] = self.store.paused_until(scope)
        return self._paused[scope]

    def _free_at(self, item: OutboxItem, route: Route, now: float) -> list[float]:
        return [
            now,
            *(lim.next_free(item, now) for lim in self._limits_for(item.destination, route)),
        ]

    async def _deliver(self, item: OutboxItem, route: Route) -> None:
        superseded: list[int] = []
        try:
            if item.op == "update" and item.message_key:
                later = self.store.pending_updates(item.destination, item.message_key, item.id)
                if later:  # a newer edit of the same message: send only the newest
                    newest = self.store.get_outbox_item(later[-1])
                    if newest is not None:
                        superseded = [item.id, *later[:-1]]
                        item = newest
            self.store.begin_attempt(item.id)
            ref = await route.delivery.deliver(item, DeliveryContext(self.store))
        except asyncio.CancelledError:
            raise
        except PermanentFailure as exc:
            self._dead(item, str(exc))
        except RetryLater as exc:
            if exc.pause_route and exc.retry_after:
                self._pause(self._scope(item.destination, route), exc.retry_after)
            # "surely not sent" clears the flag only when no earlier attempt was uncertain:
            # this attempt's refusal says nothing about what an earlier one did.
            surely_not = exc.maybe_sent is False and not item.maybe_sent
            self._retry(item, str(exc), exc.retry_after, maybe_sent=False if surely_not else None)
        except Exception as exc:
            log.warning(
                "delivery to %s failed: %s",
                item.destination,
                exc,
                extra={"event": "outbox_error", "item": item.id},
            )
            self._retry(item, f"{type(exc).__name__}: {exc}", None)
        else:
            if ref is not None and item.message_key and item.op != "update":
                self.store.set_message_ref(item.message_key, ref)
            self.store.mark_delivered(item.id, superseded=superseded)
            self.metrics.delivery(item.destination, "delivered")
        finally:
            self._inflight.pop(_lane_key(item), None)
            self._route_load[id(route)] = max(self._route_load.get(id(route), 1) - 1, 0)
            self._wake.set()

    def _pause(self, scope: str, seconds: float) -> None:
        """Hold every item of ``scope`` for ``seconds`` (kept in SQLite)."""
        until = self.clock() + seconds
        self._paused[scope] = max(self._paused.get(scope, 0.0), until)
        self.store.pause(scope, until)
        log.warning(
            "pausing %s for %.0fs (rate limited)",
            scope,
            seconds,
            extra={"event": "outbox_pause", "scope": scope},
        )

    def _retry(
        self,
        item: OutboxItem,
        error: str,
        retry_after: float | None,
        *,
        maybe_sent: bool | None = None,
    ) -> None:
        attempts = item.attempts + 1
        if attempts >= self.config.max_attempts:
            self._dead(item, f"gave up after {attempts} attempts: {error}")
            return
        backoff = min(self.config.max_backoff, self.config.base_backoff * 2 ** (attempts - 1))
        delay = backoff * self._rng.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, retry_after)
            self.metrics.rate_limited(item.destination, retry_after)
        self.store.mark_retry(item.id, at=self.clock() + delay, error=error, maybe_sent=maybe_sent)
        self.metrics.delivery(item.destination, "retry")
        log.info(
            "will retry %s in %.1fs: %s",
            item.destination,
            delay,
            error,
            extra={"event": "outbox_retry", "item": item.id, "attempt": attempts},
        )

    def _dead(self, item: OutboxItem, error: str) -> None:
        self.store.mark_dead(item.id, error=error)
        self.metrics.delivery(item.destination, "dead")
        log.error(
            "gave up delivering to %s: %s",
            item.destination,
            error,
            extra={"event": "outbox_dead", "item": item.id},
        )
