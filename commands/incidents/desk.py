"""The incident desk: Alertmanager notifications in, incidents and outbound messages out.

:meth:`IncidentDesk.intake` classifies a notification's alerts with the resolution
matrix and, in ONE SQLite transaction, stores the alerts, opens/joins/resolves/reopens
incidents and enqueues what must be said (GitHub issue operations, Slack root message
edits and thread replies, a public status). Repeated notifications find their alerts
stored (by fingerprint and ``startsAt``) and change nothing.

Joined alerts are reported at most once per ``incidents.comment_interval`` per
incident: the first batch at once when the interval has passed, later ones by the
desk's timer. The timer also reminds in the Slack thread while an incident fires
unacknowledged. Commands (ack, resolve) go through the desk too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.config import BotConfig, MatrixRow
from bot.context import ServiceKey
from commands.incidents import text
from commands.incidents.matrix import ResolutionMatrix
from integrations.alertmanager import WebhookPayload
from state.db import transaction
from state.incidents import CLOSED, FIRING, RESOLVED, AlertKey, Incident, NewAlert, StoredAlert
from state.records import Priority
from state.store import Store

if TYPE_CHECKING:
    from bot.outbox import Outbox

log = logging.getLogger("testnet_bot.incidents")

TICK = 1.0
"""Seconds between two checks for due comments and reminders."""


@dataclass(frozen=True)
class IntakeResult:
    """What one notification changed."""

    received: int
    new: int
    resolved: int
    repeats: int
    opened: tuple[int, ...] = ()
    touched: tuple[int, ...] = ()
    ignored: int = 0
    """Alerts that arrived already resolved, never seen firing: no incident for them."""


@dataclass
class _Group:
    network: str
    row: MatrixRow
    new: list[NewAlert] = field(default_factory=list)


class IncidentDesk:
    """Turns notifications into incidents; owns the comment/reminder timer."""

    def __init__(
        self,
        config: BotConfig,
        store: Store,
        outbox: Outbox,
        *,
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self.settings = config.incidents
        self.store = store
        self.repo = store.incidents
        self.outbox = outbox
        self.clock = clock
        self.matrix = ResolutionMatrix(config.resolution_matrix, config.default_matrix_row)
        self.github = f"github:{config.github.repo}" if config.github is not None else None
        self._rows = {row.event: row for row in (*config.resolution_matrix,)}
        self._rows.setdefault(config.default_matrix_row.event, config.default_matrix_row)
        self._task: asyncio.Task[None] | None = None
        self.unlabelled_network = self.settings.default_network or (
            config.default_network
            or (next(iter(config.networks)) if len(config.networks) == 1 else "unlabelled")
        )
        self._alertmanager_url = self.settings.alertmanager_url

    @property
    def links(self) -> text.Links:
        """Where incident texts link to (Alertmanager as it last named itself, runbooks)."""
        return text.Links(self._alertmanager_url, self.settings.runbook_base_url)

    # -- intake --------------------------------------------------------------

    def intake(self, payload: WebhookPayload) -> IntakeResult:
        """Store a notification's alerts and their incident changes in one transaction."""
        with transaction(self.store.conn):
            result = self._intake(payload)
        if result.touched:
            self.outbox.wake()
        return result

    def intake_batch(self, payloads: Sequence[WebhookPayload]) -> list[IntakeResult | Exception]:
        """Store several notifications in ONE transaction (a group commit), each inside
        its own savepoint: a notification that fails is rolled back alone and its slot
        holds the exception; the others commit together. Raises (storing nothing) if
        the transaction itself fails, e.g. on COMMIT."""
        conn = self.store.conn
        out: list[IntakeResult | Exception] = []
        with transaction(conn):
            for payload in payloads:
                conn.execute("SAVEPOINT intake")
                try:
                    out.append(self._intake(payload))
                except Exception as exc:
                    conn.execute("ROLLBACK TO intake")  # if this fails, all rolls back
                    out.append(exc)
                conn.execute("RELEASE intake")
        if any(isinstance(r, IntakeResult) and r.touched for r in out):
            self.outbox.wake()
        return out

    def _intake(self, payload: WebhookPayload) -> IntakeResult:
        """The body of :meth:`intake`, inside the caller's transaction."""
        label = self.settings.network_label
        if payload.external_url and not self.settings.alertmanager_url:
            self._alertmanager_url = text.clean(payload.external_url, 500)
        latest: dict[AlertKey, tuple[Any, bool]] = {}
        stamps: dict[Any, str] = {}  # a storm's alerts share few startsAt values
        for alert in payload.alerts:
            starts = stamps.get(alert.starts_at)
            if starts is None:
                starts = stamps[alert.starts_at] = alert.starts_at.isoformat()
            latest[(alert.fingerprint, starts)] = (alert, alert.status == "firing")
        now = self.clock()
        opened: list[int] = []
        touched: set[int] = set()
        known = self.repo.known_alerts(list(latest))
        groups: dict[tuple[str, str], _Group] = {}
        to_resolve: list[AlertKey] = []
        repeats = ignored = 0
        for key, (alert, firing) in latest.items():
            seen = known.get(key)
            if seen is not None:
                if not firing and seen[0] == FIRING:
                    to_resolve.append(key)
                else:
                    repeats += 1
                continue
            labels = alert.labels
            if not firing:  # resolved before the bot ever saw it fire: nothing to open
                ignored += 1
                log.info(
                    "ignoring a resolved alert never seen firing",
                    extra={"event": "alert_unseen_resolved", "alertname": labels.get("alertname")},
                )
                continue
            row = self.matrix.classify(labels).row
            network = text.clean(labels.get(label, ""), 63)
            if not network:
                network = self.unlabelled_network
                log.warning(
                    "alert has no %r label; filed under network %r",
                    label,
                    network,
                    extra={"event": "alert_without_network", "alertname": labels.get("alertname")},
                )
            group = groups.get((network, row.event))
            if group is None:
                group = groups[(network, row.event)] = _Group(network, row)
            group.new.append(  # the payload is frozen and dropped after: no copies
                NewAlert(
                    key[0],
                    key[1],
                    labels.get("alertname", ""),
                    labels,
                    alert.annotations,
                    alert.generator_url,
                )
            )
        joins: list[tuple[int, list[NewAlert]]] = []
        counts: list[tuple[int, int]] = []
        due: list[int] = []
        firing_now = self.repo.firing_ids() if groups else {}
        interval = self.settings.comment_interval
        for (network, event), group in groups.items():
            firing_id = firing_now.get((network, event))
            current = None
            if firing_id is None:
                current = self.repo.latest(network, event)
                if current is not None and current.state == FIRING:
                    firing_id = (current.id, current.last_comment_at)
            if firing_id is not None:  # the hot path: batched
                incident_id, last_comment_at = firing_id
                joins.append((incident_id, group.new))
                counts.append((incident_id, len(group.new)))
                if now - last_comment_at >= interval:
                    due.append(incident_id)
                touched.add(incident_id)
                continue
            incident_id, created = self._place(group, current, now)
            touched.add(incident_id)
            if created:
                opened.append(incident_id)
        self.repo.insert_alerts(joins, now, reported=False)
        self.repo.add_unreported(counts, now)
        for incident_id in due:
            self._flush(self._get(incident_id), now)
        new_count = sum(len(g.new) for g in groups.values())
        if to_resolve:
            self.repo.resolve_alerts(to_resolve, now)
            touched.update(known[key][1] for key in to_resolve if key in known)
            for incident_id in sorted(touched):
                self._after_resolves(incident_id, now)
        if self.config.chat.slack is not None:
            for incident_id in sorted(touched):
                if incident_id not in opened or self._get(incident_id).state != FIRING:
                    self._update_root(incident_id, now)
        return IntakeResult(
            received=len(payload.alerts),
            new=new_count,
            resolved=len(to_resolve),
            repeats=repeats,
            opened=tuple(opened),
            touched=tuple(sorted(touched)),
            ignored=ignored,
        )

    def _place(self, group: _Group, current: Incident | None, now: float) -> tuple[int, bool]:
        """Attach new alerts to their key's ended incident (reopen it) or a new one."""
        if current is not None:
            ended = current.resolved_at or current.closed_at or current.updated_at
            if now - ended <= self.settings.reopen_window:
                self.repo.insert_alerts([(current.id, group.new)], now, reported=True)
                self._reopen(current, group.new, now)
                return current.id, False
        incident_id = self.repo.create(
            network=group.network,
            event=group.row.event,
            criticality=group.row.criticality,
            owner=group.row.owner,
            slack_destination=self._slack_destination(group.row),
            now=now,
        )
        self.repo.insert_alerts([(incident_id, group.new)], now, reported=True)
        self._opened(incident_id, group.row, now)
        return incident_id, True

    # -- transitions (inside the caller's transaction) -----------------------

    def _opened(self, incident_id: int, row: MatrixRow, now: float) -> None:
        incident = self._get(incident_id)
        alerts = self.repo.alerts_of(incident_id)
        firing, total = self.repo.alert_counts(incident_id)
        if self.github:
            self.store.enqueue(
                self.github,
                "create_issue",
                {
                    "incident": incident_id,
                    "title": text.issue_title(incident),
                    "body": text.issue_body(incident, row, alerts, self.links),
                    "labels": text.issue_labels(incident, row),
                    "assignees": list(row.assignees),
                    "marker": text.marker(incident_id),
                },
                priority=Priority.URGENT,
                lane=self._lane(incident_id),
            )
        dest = incident.slack_destination
        if dest:
            root = self.store.new_message(dest)
            self.repo.update(incident_id, slack_root_key=root, updated_at=now)
            self.store.enqueue(
                dest,
                "post",
                {"text": text.slack_root(incident, row, firing, total, now, self.links)},
                message_key=root,
                priority=Priority.URGENT,  # a new incident's root goes before other updates
            )
            self._thread(dest, root, text.slack_alert_lines(alerts))
        self._public(incident, row)

    def _flush(self, incident: Incident, now: float) -> None:
        """Report the alerts that joined since the last report (one comment, one reply)."""
        if not incident.unreported:
            return
        alerts = self.repo.take_unreported(incident.id)
        self.repo.update(incident.id, last_comment_at=now, updated_at=now)
        if not alerts:
            return
        self._github(incident.id, "comment", {"body": text.joined_comment(alerts, self.links)})
        if incident.slack_destination and incident.slack_root_key:
            self._thread(
                incident.slack_destination,
                incident.slack_root_key,
                f"{len(alerts)} more alert(s) joined:\n" + text.slack_alert_lines(alerts),
            )

    def _reopen(self, incident: Incident, new: Sequence[NewAlert], now: float) -> None:
        was_closed = incident.state == CLOSED
        self.repo.update(
            incident.id,
            state=FIRING,
            resolved_at=None,
            closed_at=None,
            acked_by="",
            acked_at=None,
            last_comment_at=now,
            last_reminder_at=now,
            fired_count=incident.fired_count + 1,
            updated_at=now,
        )
        alerts = self.repo.alerts_by_key([(a.fingerprint, a.starts_at) for a in new])
        if was_closed:
            self._github(incident.id, "reopen", {})
        self._github(incident.id, "remove_label", {"label": text.RESOLVED_LABEL})
        body = text.refired_comment(alerts, reopened=was_closed, links=self.links)
        self._github(incident.id, "comment", {"body": body})
        if incident.slack_destination and incident.slack_root_key:
            self._thread(
                incident.slack_destination,
                incident.slack_root_key,
                "🔴 Fired again:\n" + text.slack_alert_lines(alerts),
            )
        self._public(self._get(incident.id), self._row(incident))

    def _after_resolves(self, incident_id: int, now: float) -> None:
        incident = self._get(incident_id)
        if incident.state != FIRING:
            return
        firing, total = self.repo.alert_counts(incident_id)
        if firing:
            return
        if incident.unreported:
            self._flush(incident, now)
        closing = self.settings.auto_close
        self.repo.update(
            incident_id,
            state=CLOSED if closing else RESOLVED,
            resolved_at=now,
            closed_at=now if closing else None,
            updated_at=now,
        )
        resolved = self._get(incident_id)
        self._github(
            incident_id,
            "comment",
            {"body": text.resolved_comment(resolved, total, now, closing=closing)},
        )
        self._github(incident_id, "add_labels", {"labels": [text.RESOLVED_LABEL]})
        if closing:
            self._github(incident_id, "close", {})
        if resolved.slack_destination and resolved.slack_root_key:
            self._thread(
                resolved.slack_destination,
                resolved.slack_root_key,
                f"✅ All {total} alert(s) resolved.",
            )
        self._public(resolved, self._row(resolved))

    # -- commands ------------------------------------------------------------

    def acknowledge(self, incident_id: int, who: str) -> Incident:
        """Record who acknowledged the incident (stops reminders); KeyError if unknown."""
        now = self.clock()
        with transaction(self.store.conn):
            incident = self.repo.get(incident_id)
            if incident is None:
                raise KeyError(incident_id)
            self.repo.update(incident_id, acked_by=who, acked_at=now, updated_at=now)
            self._github(incident_id, "comment", {"body": f"Acknowledged by {who}."})
            if incident.slack_destination and incident.slack_root_key:
                self._thread(
                    incident.slack_destination, incident.slack_root_key, f"👀 Acked by {who}."
                )
            self._update_root(incident_id, now)
        self.outbox.wake()
        return self._get(incident_id)

    def resolve(self, incident_id: int, who: str, note: str) -> Incident:
        """Close the incident and its issue by hand; KeyError if unknown."""
        now = self.clock()
        with transaction(self.store.conn):
            incident = self.repo.get(incident_id)
            if incident is None:
                raise KeyError(incident_id)
            if incident.unreported:
                self._flush(incident, now)
            self.repo.update(
                incident_id,
                state=CLOSED,
                closed_at=now,
                resolved_at=incident.resolved_at or now,
                note=note,
                updated_at=now,
            )
            said = f"Resolved by {who}" + (f": {note}" if note else ".")
            self._github(incident_id, "comment", {"body": said})
            self._github(incident_id, "add_labels", {"labels": [text.RESOLVED_LABEL]})
            self._github(incident_id, "close", {})
            if incident.slack_destination and incident.slack_root_key:
                self._thread(incident.slack_destination, incident.slack_root_key, "✅ " + said)
            self._update_root(incident_id, now)
            self._public(self._get(incident_id), self._row(incident))
        self.outbox.wake()
        return self._get(incident_id)

    # -- the GitHub delivery's book (see commands/incidents/issues.py) ----

    def issue_number(self, incident_id: int) -> int | None:
        """The incident's issue number, once known."""
        incident = self.repo.get(incident_id)
        return incident.issue_number if incident else None

    def begin_create(self, incident_id: int) -> bool:
        """Durably note a create attempt; True if one may have happened before."""
        return self.repo.begin_issue_create(incident_id, self.clock())

    def created(self, incident_id: int, number: int, url: str) -> None:
        """Record the issue and put its link in the Slack root message (one transaction)."""
        with transaction(self.store.conn):
            self.repo.record_issue(incident_id, number, url)
            self._update_root(incident_id, self.clock())
        self.outbox.wake()

    # -- the timer -----------------------------------------------------------

    def tick(self) -> None:
        """Report joined alerts whose interval has passed; remind about unacked incidents."""
        now = self.clock()
        interval = self.settings.comment_interval
        changed = False
        due = [i for i in self.repo.with_pending_joins() if now - i.last_comment_at >= interval]
        remind = self.settings.remind_interval
        late = [
            i
            for i in self.repo.unacked_firing()
            if remind > 0 and now - i.last_reminder_at >= remind and i.slack_root_key
        ]
        if not due and not late:
            return
        with transaction(self.store.conn):
            for incident in due:
                self._flush(incident, now)
                changed = True
            for incident in late:
                firing, _ = self.repo.alert_counts(incident.id)
                self.repo.update(incident.id, last_reminder_at=now, updated_at=now)
                if incident.slack_destination and incident.slack_root_key:
                    self._thread(
                        incident.slack_destination,
                        incident.slack_root_key,
                        f"⏰ Still firing ({firing} alert(s)), not acknowledged."
                        f" {text.mention(self._row(incident))}:"
                        f" `/testnet incident ack {incident.id}`",
                    )
                    changed = True
        if changed:
            self.outbox.wake()

    def start(self, spawn: Callable[[str, Any], asyncio.Task[None]]) -> None:
        """Start the timer as a supervised task."""
        if self._task is None:
            self._task = spawn("incident-timer", self._run())

    async def stop(self) -> None:
        """Stop the timer."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:  # a bad tick must not stop the timer
                log.exception("incident timer failed", extra={"event": "incident_tick_failed"})
            await asyncio.sleep(TICK)

    # -- helpers -------------------------------------------------------------

    def _get(self, incident_id: int) -> Incident:
        incident = self.repo.get(incident_id)
        if incident is None:
            raise KeyError(incident_id)
        return incident

    def _row(self, incident: Incident) -> MatrixRow:
        return self._rows.get(incident.event, self.config.default_matrix_row)

    def _slack_destination(self, row: MatrixRow) -> str | None:
        slack = self.config.chat.slack
        if slack is None:
            return None
        return slack.destination(row.slack_channel or self.settings.slack_channel)

    def _github(self, incident_id: int, op: str, payload: dict[str, Any]) -> None:
        if self.github:
            self.store.enqueue(
                self.github, op, {"incident": incident_id, **payload}, lane=self._lane(incident_id)
            )

    def _lane(self, incident_id: int) -> str:
        """One outbox lane per incident's issue: in order within it, independent of others."""
        return f"{self.github}#incident-{incident_id}"

    def _thread(self, dest: str, root_key: str, message: str) -> None:
        self.store.enqueue(dest, "post", {"text": message, "thread_key": root_key})

    def _update_root(self, incident_id: int, now: float) -> None:
        incident = self._get(incident_id)
        if not (incident.slack_destination and incident.slack_root_key):
            return
        firing, total = self.repo.alert_counts(incident_id)
        root = text.slack_root(incident, self._row(incident), firing, total, now, self.links)
        self.store.enqueue(
            incident.slack_destination,
            "update",
            {"text": root},
            message_key=incident.slack_root_key,
        )

    def _public(self, incident: Incident, row: MatrixRow) -> None:
        discord = self.config.chat.discord
        if not row.public or discord is None:
            return
        channel = discord.channels.get(self.settings.discord_channel)
        if channel is None:
            return
        dest = f"discord:{channel}"
        key = f"incident-public:{incident.id}:{channel}"  # one status message, edited
        first = self.store.named_message(key, dest)
        op = "post" if first else "update"
        self.store.enqueue(dest, op, {"text": text.public_status(incident)}, message_key=key)

    def alerts(self, incident_id: int) -> list[StoredAlert]:
        """An incident's alerts (for ``/testnet incident <id>``)."""
        return self.repo.alerts_of(incident_id)


DESK: ServiceKey[IncidentDesk] = ServiceKey(
    "incidents",
    "Incidents are not set up in this bot (they need `alertmanager:` credentials; see"
    " `testnet-bot docs config`).",
)
"""The running bot's incident desk."""
