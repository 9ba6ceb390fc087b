"""The bot's configuration: one YAML file validated into these models.

Every field carries a description (it ends up in ``testnet-bot config schema`` and
in the README's reference). Unknown keys are errors. Secrets are ``SecretStr`` so
they never show in a repr or a log line. Defaults let ``testnet-bot run`` start
with no file at all.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from integrations.image_refs import template_fields
from integrations.matchers import MatcherError, parse_matchers

PERMISSIONS = ("deploy", "rollback", "release", "validator_add", "incident", "admin")
"""Every named permission. ``admin`` implies all the others."""

Permission = Literal["deploy", "rollback", "release", "validator_add", "incident", "admin"]

_NAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
_DURATION_PATTERN = r"^\s*(\d+(?:\.\d+)?)(ms|s|m|h|d)\s*$"
_DURATION = re.compile(_DURATION_PATTERN)
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> float:
    """Turn ``90``, ``"90s"``, ``"15m"``, ``"2h"`` or ``"500ms"`` into seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration like 30s, 15m or 2h")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    else:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 15m, 2h)")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


class Model(BaseModel):
    """Base for every config model: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Seconds = Annotated[
    float,
    BeforeValidator(parse_duration),
    Field(ge=0),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": _DURATION_PATTERN},
            ]
        }
    ),
]
"""Seconds, typed as a number or as a duration string (``90``, ``"90s"``, ``"15m"``)."""


def _durations(*names: str):  # type: ignore[no-untyped-def]
    """A ``before`` validator turning duration strings into seconds for ``names``."""
    return field_validator(*names, mode="before")(lambda cls, v: parse_duration(v))


# -- networks ----------------------------------------------------------------

_REQUIREMENT = re.compile(r"^\s*!?[A-Za-z0-9./_-]+\s*((=|==|!=)\s*[A-Za-z0-9._-]*)?\s*$")


def check_selector(v: str) -> str:
    """``v`` if it is an equality-based label selector (``app=validator,tier!=x``)."""
    for part in v.split(","):
        if not _REQUIREMENT.match(part):
            raise ValueError(f"not a label selector: {v!r} (use e.g. app=validator)")
    return v


class Workload(Model):
    """One Kubernetes workload a deploy rolls."""

    kind: Literal["StatefulSet", "Deployment"] = Field(
        description="Workload kind: must be StatefulSet or Deployment."
    )
    selector: str = Field(
        description="Label selector of the workload or of its pods, e.g. app=validator.",
        min_length=1,
    )
    canary: bool = Field(
        default=False, description="With --canary, update one pod of this StatefulSet first."
    )

    @field_validator("selector")
    @classmethod
    def _selector(cls, v: str) -> str:
        return check_selector(v)


class PodsCheck(Model):
    """Every selected pod Ready, restarts under a ceiling, none crash-looping."""

    selector: str = Field(default="", description="Label selector; empty selects every pod.")
    max_restarts: int = Field(default=3, ge=0, description="Most restarts a pod may have.")


class LogCheck(Model):
    """A regex that must (``expect``) or must not (``forbid``) appear in pod logs."""

    name: str = Field(description="Name shown in the sanity table.", min_length=1)
    selector: str = Field(description="Label selector of the pods whose logs are read.")
    expect: str | None = Field(default=None, description="Regex that must appear.")
    forbid: str | None = Field(default=None, description="Regex that must not appear.")
    tail_lines: int = Field(default=2000, gt=0, description="How many recent lines to read.")
    since: Seconds | None = Field(
        default=None, description="Only lines from this long ago (e.g. 10m)."
    )
    min_pods: int = Field(
        default=1, ge=1, description="For expect: at least this many pods must match."
    )
    container: str | None = Field(
        default=None,
        description="Container whose log is read (default: the one running the network's image).",
    )
    seconds_ = _durations("since")

    @field_validator("expect", "forbid")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a valid regex: {exc}") from None
        return v

    @model_validator(mode="after")
    def _one_of(self) -> LogCheck:
        if (self.expect is None) == (self.forbid is None):
            raise ValueError("give exactly one of expect or forbid")
        return self


class PrometheusCheck(Model):
    """A PromQL instant query compared with a threshold."""

    name: str = Field(description="Name shown in the sanity table.", min_length=1)
    query: str = Field(description="PromQL instant query.", min_length=1)
    op: Literal[">", ">=", "<", "<=", "==", "!="] = Field(
        description="Comparison: one of >, >=, <, <=, ==, !=."
    )
    value: float = Field(description="Threshold the query's value is compared with.")


class PrometheusChecks(Model):
    """Where Prometheus is and what to ask it."""

    url: AnyHttpUrl = Field(description="Prometheus base URL, e.g. http://prometheus:9090.")
    checks: list[PrometheusCheck] = Field(default_factory=list, description="Queries to run.")


class HttpCheck(Model):
    """A URL that must answer with a status and, optionally, a body."""

    name: str = Field(description="Name shown in the sanity table.", min_length=1)
    url: AnyHttpUrl = Field(description="URL to GET.")
    expect_status: int = Field(default=200, ge=100, le=599, description="Expected status.")
    body_contains: str | None = Field(default=None, description="Substring the body must have.")
    json_field: str | None = Field(
        default=None, description="Dotted path into a JSON body, e.g. status."
    )
    json_equals: str | None = Field(default=None, description="Expected value of json_field.")


class SanityConfig(Model):
    """The post-deploy and on-demand checks of one network."""

    timeout: Seconds = Field(default=30.0, description="Per-check timeout (e.g. 30s).")
    pods: PodsCheck | None = Field(default=None, description="Pod health check.")
    logs: list[LogCheck] = Field(default_factory=list, description="Log spot checks.")
    prometheus: PrometheusChecks | None = Field(default=None, description="Metric checks.")
    http: list[HttpCheck] = Field(default_factory=list, description="HTTP endpoint checks.")
    log_concurrency: int = Field(
        default=16, ge=1, le=256, description="Most pod logs read at the same time."
    )
    min_interval: Seconds = Field(
        default=60.0, description="Shortest interval a sanity schedule may use (1m)."
    )
    digest_every: Seconds = Field(
        default=86400.0, description="How often a schedule with --digest posts its digest (1d)."
    )
    seconds_ = _durations("timeout", "min_interval", "digest_every")


class GateConfig(Model):
    """How long a deploy keeps watching its sanity checks after the rollout."""

    observe: Seconds = Field(default=900.0, description="Observation window (default 15m).")
    interval: Seconds = Field(default=60.0, description="Re-run checks this often (1m).")
    seconds_ = _durations("observe", "interval")


class ConnectionEntry(Model):
    """One line of the network's connection info, read from a Service.

    The Service is named in one of three ways: ``service`` (its exact name),
    ``service_suffix`` (a name ending in ``-<suffix>``, so a Helm release prefix such
    as ``alpha-aztec-network-`` need not be typed) or ``service_selector`` (a label
    selector on the Service's labels).
    """

    name: str = Field(description="Variable name shown to operators, e.g. ETHEREUM_HOST.")
    service: str | None = Field(
        default=None,
        description="Exact Service name (give one of service, service_suffix, service_selector).",
    )
    service_suffix: str | None = Field(
        default=None,
        description="End of the Service's name after a dash, e.g. ethereum-lb for "
        "alpha-aztec-network-ethereum-lb.",
        min_length=1,
    )
    service_selector: str | None = Field(
        default=None,
        description="Label selector on the Service's labels, e.g. app=boot-node.",
        min_length=1,
    )
    port: int = Field(ge=1, le=65535, description="Port to show.")
    protocol: Literal["TCP", "UDP"] = Field(default="TCP", description="TCP or UDP.")

    @field_validator("service_selector")
    @classmethod
    def _selector(cls, v: str | None) -> str | None:
        return None if v is None else check_selector(v)

    @model_validator(mode="after")
    def _one_way(self) -> ConnectionEntry:
        given = [k for k in ("service", "service_suffix", "service_selector") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of service, service_suffix or service_selector")
        return self

    @property
    def lookup(self) -> str:
        """How the entry names its Service, for messages (``ethereum-lb``, ``*-ethereum-lb``)."""
        if self.service:
            return self.service
        if self.service_suffix:
            return f"*-{self.service_suffix}"
        return f"labelled {self.service_selector}"


class InfoConfig(Model):
    """How ``/testnet info`` names the image and where ``--post`` publishes."""

    image_name: str = Field(
        default="IMAGE", description="Variable name of the running image, e.g. AZTEC_IMAGE."
    )
    slack_channel: str | None = Field(
        default=None,
        description="Slack channel (name from chat.slack.channels, or id) that --post uses.",
    )
    discord_channel: str | None = Field(
        default=None,
        description="Discord channel (name from chat.discord.channels, or id) that --post"
        " uses; default: chat.discord.channels.connection_info.",
    )


class ValidatorsConfig(Model):
    """Validator onboarding limits."""

    max: int = Field(default=48, ge=1, description="Largest validator set.")
    start_epoch: int = Field(default=5, ge=0, description="First epoch operators may join.")
    epoch_query: str | None = Field(default=None, description="PromQL giving the current epoch.")


class RegistryConfig(Model):
    """Where a network's image lives, and whether a deploy checks that its tag exists."""

    url: AnyHttpUrl | None = Field(
        default=None,
        description="Registry API base; default: from the image name "
        "(Docker Hub's https://registry-1.docker.io for names without a host).",
    )
    username: str | None = Field(default=None, description="User for a private registry.")
    password: SecretStr | None = Field(
        default=None, description="Password or token, e.g. ${REGISTRY_PASSWORD}."
    )
    check: bool = Field(default=True, description="Check the tag exists before a deploy.")
    timeout: Seconds = Field(default=10.0, description="How long one registry request may take.")
    seconds_ = _durations("timeout")

    @model_validator(mode="after")
    def _credentials(self) -> RegistryConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password, or neither")
        return self


class NetworkConfig(Model):
    """One testnet the bot manages."""

    namespace: str = Field(description="Kubernetes namespace.", pattern=_NAME)
    image: str = Field(
        description="Image repository a deploy retags, e.g. aztecprotocol/aztec.", min_length=1
    )
    tag_template: str | None = Field(
        default=None,
        description="How a version becomes an image tag: {version} (v0.62.0), {semver} "
        "(0.62.0), {sha} (short commit); default: the form the workloads run now.",
    )
    registry: RegistryConfig = Field(
        default_factory=RegistryConfig, description="The image's registry and the tag check."
    )
    kube_context: str | None = Field(default=None, description="kubeconfig context to use.")
    workloads: list[Workload] = Field(
        default_factory=list, description="What a deploy rolls, in this order."
    )
    approvals: int = Field(
        default=1, ge=1, le=5, description="Distinct approvers a dangerous command needs."
    )
    canary_hold: Seconds = Field(default=120.0, description="How long a canary must stay Ready.")
    progress_deadline: Seconds = Field(
        default=600.0, description="A rollout making no progress this long fails."
    )
    auto_rollback: bool = Field(default=False, description="Roll back on failure without asking.")
    sanity: SanityConfig = Field(default_factory=SanityConfig, description="Sanity checks.")
    gate: GateConfig = Field(default_factory=GateConfig, description="Post-deploy gate.")
    connection_info: list[ConnectionEntry] = Field(
        default_factory=list, description="Connection info entries."
    )
    info: InfoConfig = Field(
        default_factory=InfoConfig, description="Connection info naming and channel."
    )
    validators: ValidatorsConfig = Field(
        default_factory=ValidatorsConfig, description="Validator onboarding."
    )
    seconds_ = _durations("canary_hold", "progress_deadline")

    @field_validator("tag_template")
    @classmethod
    def _template(cls, v: str | None) -> str | None:
        if v is not None:
            template_fields(v)
        return v


# -- chat ----------------------------------------------------------------------


class ShellChat(Model):
    """The local terminal chat (``testnet-bot shell`` / ``exec``)."""

    user: str = Field(default="operator", description="Who the local operator is.")
    roles: list[str] = Field(
        default_factory=lambda: ["admin"], description="Roles the local operator holds."
    )


class SlackChat(Model):
    """Slack workspace connection."""

    bot_token: SecretStr = Field(description="Bot token (xoxb-...), e.g. ${SLACK_BOT_TOKEN}.")
    signing_secret: SecretStr | None = Field(
        default=None, description="Signing secret; required for HTTP mode (no app_token)."
    )
    app_token: SecretStr | None = Field(
        default=None, description="App-level token (xapp-...): enables Socket Mode."
    )
    api_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://slack.com/api/"), description="Web API base URL."
    )
    channels: dict[str, str] = Field(
        default_factory=dict, description="Named channels, e.g. {deploys: C0123, alpha: C0456}."
    )

    platform: ClassVar[str] = "slack"

    def destination(self, channel: str) -> str:
        """The outbox destination of ``channel`` (a name from ``channels``, or an id)."""
        return f"{self.platform}:{self.channels.get(channel, channel)}"
    confirm_timeout: Seconds = Field(default=600.0, description="Approve buttons expire after.")
    group_cache_ttl: Seconds = Field(default=300.0, description="User-group membership cache.")
    seconds_ = _durations("confirm_timeout", "group_cache_ttl")

    @model_validator(mode="after")
    def _mode(self) -> SlackChat:
        if self.signing_secret is None and self.app_token is None:
            raise ValueError("give signing_secret (HTTP mode) or app_token (Socket Mode)")
        return self


class DiscordChat(Model):
    """Discord bot connection: the gateway for ``/testnet`` and buttons, REST for posts."""

    token: SecretStr = Field(description="Bot token, e.g. ${DISCORD_TOKEN}.")
    application_id: int | None = Field(
        default=None, description="Application id; checked against the token's at start-up."
    )
    guilds: list[int] = Field(
        default_factory=list,
        description="Guild (server) ids /testnet is synced to; none: commands are not synced.",
    )
    channels: dict[str, int] = Field(
        default_factory=dict, description="Named channel ids, e.g. {connection_info: 123}."
    )
    api_url: AnyHttpUrl | None = Field(
        default=None, description="REST base URL (tests); its /gateway/bot names the gateway."
    )
    confirm_timeout: Seconds = Field(
        default=600.0, description="Approve buttons expire after (at most 14 min)."
    )
    seconds_ = _durations("confirm_timeout")

    @field_validator("confirm_timeout")
    @classmethod
    def _within_token_life(cls, v: float) -> float:
        if not 0 < v <= 840:
            raise ValueError("must be more than 0 s and at most 14 min (Discord's 15 min window)")
        return v

    platform: ClassVar[str] = "discord"

    def destination(self, channel: str) -> str | None:
        """The outbox destination of the channel named ``channel`` (None if unnamed)."""
        found = self.channels.get(channel)
        return None if found is None else f"{self.platform}:{found}"


class ChatConfig(Model):
    """Chat platforms; each one present is started by ``run``."""

    shell: ShellChat = Field(default_factory=ShellChat, description="Local terminal chat.")
    slack: SlackChat | None = Field(default=None, description="Slack, when configured.")
    discord: DiscordChat | None = Field(default=None, description="Discord, when configured.")


# -- identity and permissions -------------------------------------------------


class Role(Model):
    """A role and the platform identities that hold it."""

    slack_users: list[str] = Field(default_factory=list, description="Slack user ids (U...).")
    slack_groups: list[str] = Field(
        default_factory=list, description="Slack user-group ids (S...)."
    )
    discord_roles: list[int] = Field(default_factory=list, description="Discord role ids.")
    discord_users: list[int] = Field(default_factory=list, description="Discord user ids.")
    shell_users: list[str] = Field(default_factory=list, description="Local shell user names.")


def _default_permissions() -> dict[Permission, list[str]]:
    return {p: ["admin"] for p in PERMISSIONS}  # type: ignore[misc]


# -- integrations -------------------------------------------------------------


class GitHubConfig(Model):
    """GitHub repository for incident issues and releases."""

    repo: str = Field(description="owner/name.", pattern=r"^[\w.-]+/[\w.-]+$")
    token: SecretStr = Field(description="Token, e.g. ${GITHUB_TOKEN}.")
    api_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://api.github.com"),
        description="REST API base (GitHub Enterprise: https://host/api/v3).",
    )
    per_minute: int = Field(
        default=80,
        ge=1,
        description="Most content-creating requests/min (counted across restarts).",
    )
    per_hour: int = Field(
        default=500,
        ge=1,
        description="Most content-creating requests/hour (counted across restarts).",
    )


class KubeConfig(Model):
    """How to reach Kubernetes."""

    kubeconfig: Path | None = Field(
        default=None, description="kubeconfig path; unset: in-cluster, else ~/.kube/config."
    )
    context: str | None = Field(default=None, description="Default kubeconfig context.")


class MatrixRow(Model):
    """One row of the issue resolution matrix."""

    event: str = Field(description="Event name, e.g. 'Network instability: block production'.")
    matchers: list[str] = Field(
        default_factory=list,
        description=(
            'Alertmanager-syntax matchers, all must hold, e.g. alertname=~"Block.*";'
            " read as Alertmanager reads them (comma-separated, RE2 regexes)."
        ),
    )
    action: str = Field(description="What the owner should do.")
    criticality: Literal["Blocker", "Critical", "Major", "Minor"] = Field(
        description="Blocker, Critical, Major or Minor."
    )
    owner: str = Field(default="", description="Owning team's name.")
    slack_group: str | None = Field(
        default=None,
        description=(
            "Slack user group id (S0123ABCD, from the group's profile) mentioned in the"
            " incident's root message and reminders. The default matrix sets none: copy its"
            " rows into resolution_matrix and add this to have the owner paged in Slack."
        ),
    )
    discord_role: int | None = Field(default=None, description="Discord role to mention.")
    labels: list[str] = Field(default_factory=list, description="Extra GitHub labels.")
    assignees: list[str] = Field(default_factory=list, description="GitHub assignees.")
    slack_channel: str | None = Field(default=None, description="Channel (name or id) to post.")
    public: bool = Field(default=False, description="Also post a redacted status to Discord.")
    runbook_url: str | None = Field(
        default=None,
        description=(
            "Runbook for this row: a URL, or a path such as"
            " 'network-instability.md#block-production-stalls' resolved against"
            " incidents.runbook_base_url. An alert's own runbook_url annotation wins."
        ),
    )

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, v: list[str]) -> list[str]:
        for text in v:
            try:
                parse_matchers(text)
            except MatcherError as exc:
                raise ValueError(f"{text!r}: {exc}") from None
        return v


def default_matrix() -> list[MatrixRow]:
    """The release runbook's Issue Resolution Matrix, with network instability split by kind.

    Each network-instability row says what the on-call person does first and points at
    its section of ``docs/runbooks/network-instability.md``. To have the bot mention
    the owning team in Slack, copy a row into ``resolution_matrix`` and set
    ``slack_group`` to the team's user group id (``S0123ABCD``).
    """
    report = "then file the report for the Alpha Team with what you found"
    rows = [
        (
            "Network instability: block production stalls",
            "BlockProduction.*",
            "Check the sequencer/validator pods and their logs (`/testnet sanity`) and"
            f" that L1 is reachable; {report}",
            "block-production-stalls",
        ),
        (
            "Network instability: proof generation failures",
            "Proof.*|Proving.*",
            "Check the prover node, broker and agents (restarts, out-of-memory kills, the"
            f" last failed proof's logs); {report}",
            "proof-generation-failures",
        ),
        (
            "Network instability: transaction inclusion issues",
            "TxInclusion.*|Transaction.*",
            "Send a test transaction, check the mempool and the sequencers' logs for"
            f" rejected transactions; {report}",
            "transaction-inclusion-issues",
        ),
        (
            "Network instability: node synchronisation problems",
            "NodeSync.*|.*OutOfSync",
            "Compare the lagging node's block height with the boot node's, check its peers"
            f" and L1 connection, restart it if it is stuck; {report}",
            "node-synchronisation-problems",
        ),
        (
            "Network instability: persistent crashes",
            "PersistentCrash.*|.*CrashLoop.*",
            "Find the crashing pod (`/testnet status`), save its previous logs and events,"
            f" roll back if the crashes began with a deploy; {report}",
            "persistent-crashes",
        ),
        (
            "Network instability: persistent chain reorgs",
            ".*Reorg.*",
            "Check L1 for reorgs and the sequencers' views of the chain tip; pause deploys"
            f" (`/testnet lock`); {report}",
            "persistent-chain-reorgs",
        ),
        (
            "Network instability: bridge contract failures",
            "Bridge.*",
            "Check the failing bridge transactions on L1 and the contract addresses the"
            f" nodes were given; {report}",
            "bridge-contract-failures",
        ),
    ]
    matrix = [
        MatrixRow(
            event=event,
            matchers=[f'alertname=~"{pattern}"'],
            action=action,
            criticality="Blocker",
            owner="Alpha Team",
            runbook_url=f"network-instability.md#{anchor}",
        )
        for event, pattern, action, anchor in rows
    ]
    matrix += [
        MatrixRow(
            event="Build failure",
            matchers=['alertname=~"Build.*"'],
            action="Rerun CI or revert the problematic changes",
            criticality="Blocker",
            runbook_url="operations.md#build-failure",
        ),
        MatrixRow(
            event="Deployment issues",
            matchers=['alertname=~"Deploy.*|Rollout.*"'],
            action="Follow the deployment README or escalate to the Delta team",
            criticality="Blocker",
            owner="Delta Team",
            runbook_url="operations.md#deployment-issues",
        ),
        MatrixRow(
            event="Challenge completion errors",
            matchers=['alertname=~"Challenge.*"'],
            action="Document the issue and assess the challenge's viability",
            criticality="Major",
            owner="Product Team",
            runbook_url="operations.md#challenge-completion-errors",
        ),
        MatrixRow(
            event="Hotfix deployment",
            matchers=['alertname=~"Hotfix.*"'],
            action="Update the testnet and verify the fix",
            criticality="Major",
            owner="Delta Team",
            runbook_url="operations.md#hotfix-deployment",
        ),
    ]
    return matrix


def default_matrix_fallback() -> MatrixRow:
    """Where an alert matching no row goes: the runbook's minor operational issues."""
    return MatrixRow(
        event="Minor operational issues",
        action="Create a tracking issue",
        criticality="Minor",
        owner="Delta Team",
        runbook_url="operations.md#minor-operational-issues",
    )


class IncidentsConfig(Model):
    """How alerts become incidents, GitHub issues and Slack threads."""

    comment_interval: Seconds = Field(
        default=600.0,
        description="At most one 'alerts joined' comment/thread reply per incident this often.",
    )
    reopen_window: Seconds = Field(
        default=86400.0,
        description="A re-fire within this long after resolving reopens the same issue.",
    )
    auto_close: bool = Field(
        default=False,
        description="Close the issue when every alert resolved (else: resolved label only).",
    )
    remind_interval: Seconds = Field(
        default=1800.0,
        description="Remind in the Slack thread this often while firing and unacknowledged.",
    )
    slack_channel: str = Field(
        default="incidents",
        description="Slack channel (name from chat.slack.channels, or id) for rows naming none.",
    )
    discord_channel: str = Field(
        default="status",
        description="Discord channel name (chat.discord.channels) for public rows' status.",
    )
    network_label: str = Field(
        default="network", description="Alert label naming the network of an incident."
    )
    default_network: str | None = Field(
        default=None,
        description=(
            "Network for alerts without the network label (logged as a warning). Default:"
            " the only configured network, else 'unlabelled'."
        ),
    )
    runbook_base_url: str | None = Field(
        default=None,
        description=(
            "Base URL that relative runbook paths (the default matrix's, e.g."
            " 'network-instability.md#block-production-stalls') are joined to, e.g. where"
            " docs/runbooks/ of this bot is published. Unset: the path is shown as text."
        ),
    )
    alertmanager_url: str | None = Field(
        default=None,
        description=(
            "Alertmanager's URL for links and silences (default: the externalURL that"
            " Alertmanager sends with each notification)."
        ),
    )
    seconds_ = _durations("comment_interval", "reopen_window", "remind_interval")


# -- runtime -------------------------------------------------------------------


class HttpConfig(Model):
    """The bot's HTTP server (health, metrics, Slack events, webhooks)."""

    host: str = Field(default="127.0.0.1", description="Listen address.")
    port: int = Field(default=8080, ge=0, le=65535, description="Listen port (0: any free).")


class StateConfig(Model):
    """Where the SQLite database lives."""

    path: Path = Field(default=Path("var/testnet-bot.db"), description="SQLite database file.")


class LoggingConfig(Model):
    """Log format and level."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Lowest level logged."
    )
    format: Literal["auto", "json", "text"] = Field(
        default="auto", description="auto: text on a terminal, JSON lines otherwise."
    )


class OutboxConfig(Model):
    """Delivery of outbound messages. Per channel, prompts, a command's first reply
    and incident roots go before thread replies, and replies before edits; each
    incident's GitHub writes are ordered on their own, so one failing issue never
    holds up another, and each write lands once even across crashes."""

    max_attempts: int = Field(default=8, ge=1, description="Attempts before an item is dead.")
    base_backoff: Seconds = Field(default=1.0, description="First retry delay (doubles).")
    max_backoff: Seconds = Field(default=300.0, description="Longest retry delay.")
    seconds_ = _durations("base_backoff", "max_backoff")


class AlertmanagerConfig(Model):
    """The Alertmanager webhook endpoint's credentials (none: endpoint disabled)."""

    bearer_token: SecretStr | None = Field(default=None, description="Expected bearer token.")
    basic_user: str | None = Field(default=None, description="Expected basic-auth user.")
    basic_password: SecretStr | None = Field(default=None, description="Basic-auth password.")
    max_body: int = Field(default=1 << 20, ge=1024, description="Largest accepted body (bytes).")


REFERENCE_ERROR = "config_reference"
"""The pydantic error type of a cross-reference problem (the file reader reports
those itself, each at its own path and line)."""

RefPath = tuple[str | int, ...]


def closest(word: str, known: Iterable[str]) -> str | None:
    """The known word a slip of the keyboard most likely meant, if any is close."""
    matches = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return matches[0] if matches else None


def reference_problems(
    *,
    networks: Iterable[object],
    default_network: object,
    roles: Iterable[object],
    shell_roles: Iterable[object],
    permissions: Mapping[Any, Iterable[object]],
) -> list[tuple[RefPath, str]]:
    """Every name one section uses that another section does not define, with the
    path of the use: ``default_network`` naming no network, a permission or the
    shell operator naming an unknown role."""
    problems: list[tuple[RefPath, str]] = []
    network_names = [str(n) for n in networks]
    role_names = [str(r) for r in roles]

    def unknown(kind: str, name: object, known: list[str]) -> str:
        hint = closest(str(name), known)
        listing = ", ".join(known) or "none"
        return f"unknown {kind} {name!r}" + (
            f": did you mean `{hint}`?" if hint else f" ({kind}s: {listing})"
        )

    if default_network is not None and str(default_network) not in network_names:
        hint = closest(str(default_network), network_names)
        problems.append(
            (
                ("default_network",),
                f"default_network {default_network!r} is not a network"
                + (f": did you mean `{hint}`?" if hint else ""),
            )
        )
    for i, role in enumerate(shell_roles):
        if str(role) not in role_names:
            problems.append((("chat", "shell", "roles", i), unknown("role", role, role_names)))
    for perm, holders in permissions.items():
        for i, role in enumerate(holders):
            if str(role) not in role_names:
                problems.append((("permissions", str(perm), i), unknown("role", role, role_names)))
    return problems


class BotConfig(Model):
    """The whole configuration file."""

    networks: dict[str, NetworkConfig] = Field(
        default_factory=dict,
        description="Testnets by name.",
        json_schema_extra={"propertyNames": {"pattern": _NAME}},
    )
    default_network: str | None = Field(
        default=None, description="Network used when a command names none."
    )
    chat: ChatConfig = Field(default_factory=ChatConfig, description="Chat platforms.")
    github: GitHubConfig | None = Field(default=None, description="GitHub, when configured.")
    kubernetes: KubeConfig = Field(default_factory=KubeConfig, description="Kubernetes access.")
    alertmanager: AlertmanagerConfig = Field(
        default_factory=AlertmanagerConfig, description="Alertmanager webhook."
    )
    roles: dict[str, Role] = Field(
        default_factory=lambda: {"admin": Role()}, description="Roles and who holds them."
    )
    permissions: dict[Permission, list[str]] = Field(
        default_factory=_default_permissions,
        description="Which roles hold each permission (admin implies all).",
    )
    resolution_matrix: list[MatrixRow] = Field(
        default_factory=default_matrix, description="Issue resolution matrix; first match wins."
    )
    default_matrix_row: MatrixRow = Field(
        default_factory=default_matrix_fallback, description="Row for alerts matching none."
    )
    incidents: IncidentsConfig = Field(
        default_factory=IncidentsConfig, description="Incident handling."
    )
    http: HttpConfig = Field(default_factory=HttpConfig, description="HTTP server.")
    state: StateConfig = Field(default_factory=StateConfig, description="State database.")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Logging.")
    outbox: OutboxConfig = Field(default_factory=OutboxConfig, description="Outbound delivery.")

    @field_validator("networks")
    @classmethod
    def _network_names(cls, v: dict[str, NetworkConfig]) -> dict[str, NetworkConfig]:
        for name in v:
            if not re.match(_NAME, name):
                raise ValueError(f"network name {name!r}: lowercase letters, digits and dashes")
        return v

    @model_validator(mode="after")
    def _references(self) -> BotConfig:
        problems = reference_problems(
            networks=self.networks,
            default_network=self.default_network,
            roles=self.roles,
            shell_roles=self.chat.shell.roles,
            permissions=self.permissions,
        )
        if problems:
            text = "; ".join(f"{'.'.join(map(str, path))}: {msg}" for path, msg in problems)
            raise PydanticCustomError(REFERENCE_ERROR, text)
        return self

    def secrets(self) -> list[str]:
        """Every secret value in the configuration (for log redaction)."""
        values: list[str] = []

        def walk(obj: object) -> None:
            if isinstance(obj, SecretStr):
                values.append(obj.get_secret_value())
            elif isinstance(obj, BaseModel):
                for name in type(obj).model_fields:
                    walk(getattr(obj, name))
            elif isinstance(obj, dict):
                for item in obj.values():
                    walk(item)
            elif isinstance(obj, list | tuple):
                for item in obj:
                    walk(item)

        walk(self)
        return [v for v in values if v]


# -- JSON Schema -----------------------------------------------------------------

ENV_REFERENCE_PATTERN = r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}"
"""A ``${VAR}`` or ``${VAR:-default}`` reference, replaced before validation."""
_LAX_STRINGS = {
    # pydantic's lax mode reads these strings as numbers and booleans.
    "integer": r"^\s*[+-]?\d+\s*$",
    "number": r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$",
    "boolean": "^(0|1|"
    + "|".join(
        "".join(f"[{c.lower()}{c.upper()}]" for c in word)
        for word in ("off", "on", "f", "t", "false", "true", "n", "no", "y", "yes")
    )
    + ")$",
}
_SCHEMA_MAPS = ("properties", "$defs", "patternProperties")
_SCHEMA_ONE = ("items", "additionalProperties", "not")
_SCHEMA_MANY = ("anyOf", "oneOf", "allOf", "prefixItems")
_META = ("title", "description", "default", "examples")


def _loosen(node: Any, *, numeric_strings: bool = True) -> Any:
    """Widen a schema node to take what the loader takes: any constrained scalar may
    also be a string holding a ``${VAR}`` reference (interpolated before validation),
    and numbers and booleans may be written as the strings pydantic reads as such."""
    if not isinstance(node, dict):
        return node
    out = dict(node)
    duration = any(
        isinstance(b, dict) and b.get("pattern") == _DURATION_PATTERN for b in node.get("anyOf", ())
    )
    for key in _SCHEMA_MAPS:
        if isinstance(node.get(key), dict):
            out[key] = {k: _loosen(v) for k, v in node[key].items()}
    for key in _SCHEMA_ONE:
        if isinstance(node.get(key), dict):
            out[key] = _loosen(node[key])
    for key in _SCHEMA_MANY:
        if isinstance(node.get(key), list):
            out[key] = [
                _loosen(v, numeric_strings=numeric_strings and not duration) for v in node[key]
            ]
    kind = node.get("type")
    constrained = (
        kind in _LAX_STRINGS
        or (kind == "string" and any(k in node for k in ("pattern", "enum", "const", "minLength")))
        or ("enum" in node and "type" not in node)
    )
    if not constrained or "anyOf" in node:
        return out
    meta = {k: out.pop(k) for k in _META if k in out}
    branches: list[Any] = [out, {"type": "string", "pattern": ENV_REFERENCE_PATTERN}]
    if numeric_strings and kind in _LAX_STRINGS:
        branches.append({"type": "string", "pattern": _LAX_STRINGS[str(kind)]})
    return {**meta, "anyOf": branches}


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema of the configuration file as written (before ``${VAR}``
    interpolation): it accepts what :func:`bot.configfile.parse_config` accepts."""
    schema: dict[str, Any] = _loosen(BotConfig.model_json_schema())
    return schema
