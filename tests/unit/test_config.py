"""Configuration: a valid file passes; each broken one names the broken key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from bot.config import BotConfig, config_json_schema, parse_duration
from bot.configfile import ConfigError, format_path, parse_config, read_config

VALID = """
networks:
  alpha:
    namespace: alpha-testnet
    image: aztecprotocol/aztec
    workloads:
      - {kind: StatefulSet, selector: app=validator, canary: true}
      - {kind: Deployment, selector: app=prover}
    approvals: 2
    canary_hold: 2m
    sanity:
      pods: {max_restarts: 3}
      logs:
        - {name: tx gossiping, selector: app=bot, expect: "Generated IVC proof"}
        - {name: peer discovery, selector: app=validator, forbid: "Failed FINDNODE request"}
      prometheus:
        url: http://prometheus:9090
        checks: [{name: block production, query: "increase(block_height[5m])", op: ">", value: 0}]
      http: [{name: rpc health, url: "http://rpc:8545/healthz", expect_status: 200}]
    connection_info:
      - {name: ETHEREUM_HOST, service: ethereum-lb, port: 8545}
chat:
  shell: {user: alice, roles: [release]}
  slack: {bot_token: "${SLACK_BOT_TOKEN}", signing_secret: "${SLACK_SIGNING_SECRET}"}
github: {repo: AztecProtocol/aztec-packages, token: "${GITHUB_TOKEN}"}
roles:
  admin: {slack_users: [U1]}
  release: {slack_groups: [S1], shell_users: [alice]}
permissions:
  deploy: [release]
  admin: [admin]
"""
ENV = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "sig", "GITHUB_TOKEN": "ghp_1"}


def parse(text: str, env: dict[str, str] | None = None) -> BotConfig:
    return parse_config(textwrap.dedent(text), source="test.yaml", env=ENV if env is None else env)


def test_the_valid_example_passes() -> None:
    config = parse(VALID)
    alpha = config.networks["alpha"]
    assert alpha.canary_hold == 120.0
    assert alpha.workloads[0].canary is True
    assert config.chat.slack is not None
    assert config.chat.slack.bot_token.get_secret_value() == "xoxb-1"
    assert "xoxb-1" not in repr(config)
    assert set(config.secrets()) == {"xoxb-1", "sig", "ghp_1"}


def test_an_empty_file_gives_the_defaults() -> None:
    config = parse("")
    assert config.networks == {}
    assert config.http.host == "127.0.0.1" and config.http.port == 8080
    assert config.chat.shell.roles == ["admin"]
    assert config.resolution_matrix, "the seed's matrix is built in"


BROKEN = [
    (
        "networks: {alpha: {namespace: a, image: x, workloads: [{kind: StatefulSet, selector: a=b},"
        " {kind: Job, selector: a=b}]}}",
        "networks.alpha.workloads[1].kind",
        "must be StatefulSet or Deployment",
    ),
    (
        "networks: {alpha: {namespace: a, image: x, colour: red}}",
        "networks.alpha.colour",
        "unknown key",
    ),
    ("networks: {alpha: {image: x}}", "networks.alpha.namespace", "required key is missing"),
    (
        "networks: {alpha: {namespace: a, image: x, sanity: {logs: [{name: n, selector: a=b,"
        " expect: 'Gen['}]}}}",
        "networks.alpha.sanity.logs[0].expect",
        "not a valid regex",
    ),
    (
        "networks: {alpha: {namespace: a, image: x, sanity: {prometheus: {url: 'http://p:9090',"
        " checks: [{name: n, query: up, op: '=>', value: 1}]}}}}",
        "networks.alpha.sanity.prometheus.checks[0].op",
        "must be >",
    ),
    (
        "networks: {alpha: {namespace: a, image: x, sanity: {http: [{name: n, url: 'not a url'}]}}}",
        "networks.alpha.sanity.http[0].url",
        "URL",
    ),
    (
        "networks: {alpha: {namespace: a, image: x, canary_hold: soon}}",
        "networks.alpha.canary_hold",
        "not a duration",
    ),
    ("networks: {alpha: {namespace: Not_Valid, image: x}}", "networks.alpha.namespace", "pattern"),
    (
        "networks: {alpha: {namespace: a, image: x, approvals: 0}}",
        "networks.alpha.approvals",
        "greater than or equal to 1",
    ),
    (
        "networks: {alpha: {namespace: a, image: x, tag_template: 'v1'}}",
        "networks.alpha.tag_template",
        "{version}",
    ),
    ("permissions: {deplyo: [admin]}", "permissions.deplyo", "must be deploy"),
    ("http: {port: 70000}", "http.port", "less than or equal to 65535"),
    ("github: {repo: 'not a repo', token: t}", "github.repo", "pattern"),
    ("logging: {level: LOUD}", "logging.level", "must be DEBUG"),
    (
        "networks: {alpha: {namespace: a, image: x, workloads: [{kind: Deployment, selector: 'a b c'}]}}",
        "networks.alpha.workloads[0].selector",
        "not a label selector",
    ),
    ("chat: {slack: {bot_token: x}}", "chat.slack", "give signing_secret"),
    (
        "resolution_matrix: [{event: e, action: a, criticality: Minor, matchers: ['alertname=~\"(\"']}]",
        "resolution_matrix[0].matchers",
        "alertname",
    ),
    (
        "resolution_matrix: [{event: e, action: a, criticality: Urgent}]",
        "resolution_matrix[0].criticality",
        "must be Blocker, Critical, Major or Minor",
    ),
]


@pytest.mark.parametrize(("text", "path", "message"), BROKEN)
def test_each_broken_config_names_its_path(text: str, path: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    problems = {p.path: p for p in caught.value.problems}
    assert path in problems, [str(p) for p in caught.value.problems]
    assert message in problems[path].message
    assert problems[path].line == 1


def test_errors_carry_the_line_of_the_broken_key() -> None:
    text = """\
    networks:
      alpha:
        namespace: a
        image: x
        workloads:
          - {kind: StatefulSet, selector: a=b}
          - {kind: Job, selector: a=b}
    """
    with pytest.raises(ConfigError) as caught:
        parse(text)
    (problem,) = caught.value.problems
    assert str(problem) == (
        "networks.alpha.workloads[1].kind: must be StatefulSet or Deployment (line 7)"
    )


def test_a_missing_environment_variable_is_a_clear_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse("github: {repo: a/b, token: '${GITHUB_TOKEN}'}", env={})
    (problem,) = caught.value.problems
    assert problem.path == "github.token"
    assert problem.message == "environment variable GITHUB_TOKEN is not set"


def test_interpolation_has_defaults_and_works_inside_text() -> None:
    config = parse(
        "http: {host: '${HOST:-0.0.0.0}', port: '${PORT}'}\nstate: {path: '${DIR}/bot.db'}",
        env={"PORT": "9000", "DIR": "/data"},
    )
    assert (config.http.host, config.http.port) == ("0.0.0.0", 9000)
    assert str(config.state.path) == "/data/bot.db"


def test_invalid_yaml_and_non_mappings_are_refused() -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse("networks: [unclosed")
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse("- a list")
    with pytest.raises(ConfigError, match="duplicate key"):
        parse("http: {}\nhttp: {}")


def test_references_between_sections_are_checked() -> None:
    with pytest.raises(ConfigError, match="unknown role 'ghost'"):
        parse("permissions: {deploy: [ghost]}")
    with pytest.raises(ConfigError, match="default_network 'beta' is not a network"):
        parse("default_network: beta")


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("15m", 900), ("2h", 7200), ("500ms", 0.5), (90, 90)]
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_paths_are_formatted_like_the_docs() -> None:
    assert format_path(("networks", "alpha", "workloads", 1, "kind")) == (
        "networks.alpha.workloads[1].kind"
    )


def test_the_json_schema_describes_every_field() -> None:
    schema = BotConfig.model_json_schema()
    missing: list[str] = []

    def walk(node: dict[str, object], where: str) -> None:
        for name, prop in (node.get("properties") or {}).items():  # type: ignore[union-attr]
            if "description" not in prop:
                missing.append(f"{where}.{name}")

    walk(schema, "BotConfig")
    for name, definition in schema.get("$defs", {}).items():
        walk(definition, name)
    assert missing == []


# -- errors that help ----------------------------------------------------------


def problems_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(text, env)
    return [str(p) for p in caught.value.problems]


def test_an_unknown_key_suggests_the_closest_known_one() -> None:
    assert problems_of(
        "chat: {slack: {bot_token: x, signing_secret: y, base_url: 'http://x/'}}"
    ) == ["chat.slack.base_url: unknown key: did you mean `api_url`? (line 1)"]
    # Nothing close: no guess.
    assert problems_of("chat: {slack: {bot_token: x, signing_secret: y, zzz: 1}}") == [
        "chat.slack.zzz: unknown key (line 1)"
    ]


def test_a_misspelt_required_key_is_one_problem_with_a_suggestion() -> None:
    assert problems_of("networks: {alpha: {namespce: a, image: x}}") == [
        "networks.alpha.namespce: unknown key: did you mean `namespace`? "
        "(`namespace` is required) (line 1)"
    ]
    # A genuinely missing key next to an unrelated unknown one: two problems.
    assert problems_of("networks: {alpha: {image: x, colour: red}}") == [
        "networks.alpha.colour: unknown key (line 1)",
        "networks.alpha.namespace: required key is missing (line 1)",
    ]


def test_misspelt_choices_and_names_get_suggestions() -> None:
    (kind,) = problems_of(
        "networks: {alpha: {namespace: a, image: x, workloads: [{kind: Statefulset, selector: a=b}]}}"
    )
    assert kind.endswith("must be StatefulSet or Deployment: did you mean `StatefulSet`? (line 1)")
    (perm,) = problems_of("permissions: {deplyo: [admin]}")
    assert "did you mean `deploy`?" in perm


def test_every_problem_is_reported_in_one_run_cross_references_included() -> None:
    text = """\
    default_network: alpah
    networks:
      alpha: {namespace: a, image: x, canary_hold: soon}
    roles:
      admin: {}
      release: {}
    chat:
      shell: {roles: [operator]}
    permissions:
      deploy: [release]
      rollback: [release, relase]
      release: [ghost]
    github: {repo: a/b, token: '${GITHUB_TOKEN}'}
    http: {port: 70000}
    """
    assert problems_of(text, env={}) == [
        "default_network: default_network 'alpah' is not a network: did you mean `alpha`? (line 1)",
        "networks.alpha.canary_hold: not a duration: 'soon' (use e.g. 30s, 15m, 2h) (line 3)",
        "chat.shell.roles[0]: unknown role 'operator' (roles: admin, release) (line 8)",
        "permissions.rollback[1]: unknown role 'relase': did you mean `release`? (line 11)",
        "permissions.release[0]: unknown role 'ghost' (roles: admin, release) (line 12)",
        "github.token: environment variable GITHUB_TOKEN is not set (line 13)",
        "http.port: must be less than or equal to 65535 (line 14)",
    ]


def test_an_unset_variable_is_one_problem_not_also_a_bad_value() -> None:
    assert problems_of("http: {port: '${PORT}'}", env={}) == [
        "http.port: environment variable PORT is not set (line 1)"
    ]


def test_connection_info_names_its_service_exactly_one_way() -> None:
    base = "networks: {alpha: {namespace: a, image: x, connection_info: [%s]}}"
    config = parse(base % "{name: E, service_suffix: ethereum-lb, port: 8545}")
    assert config.networks["alpha"].connection_info[0].lookup == "*-ethereum-lb"
    for entry in ("{name: E, port: 1}", "{name: E, service: a, service_suffix: b, port: 1}"):
        (problem,) = problems_of(base % entry)
        assert "give exactly one of service, service_suffix or service_selector" in problem
    (problem,) = problems_of(base % "{name: E, service_selector: 'a b', port: 1}")
    assert "not a label selector" in problem


# -- warnings --------------------------------------------------------------------


def warnings_of(text: str) -> list[str]:
    _, warnings = read_config(textwrap.dedent(text), source="test.yaml", env=ENV)
    return [str(w) for w in warnings]


def test_sections_with_no_effect_are_warnings() -> None:
    text = """\
    networks:
      alpha:
        namespace: a
        image: x
        info: {slack_channel: team-alpha}
        validators: {max: 10}
    chat:
      discord: {token: t}
    """
    assert warnings_of(text) == [
        "chat.discord.guilds: is empty: /testnet is registered in no guild, so nobody can run "
        "commands from Discord (the bot still posts to its channels) (line 8)",
        "networks.alpha.info.slack_channel: has no effect: chat.slack is not configured, "
        "so `info --post` has nowhere to post (line 5)",
        "networks.alpha.info: has no effect: the network has no connection_info entries (line 5)",
    ]
    assert warnings_of(VALID) == []
    assert warnings_of("") == []


def test_a_public_matrix_row_without_discord_is_a_warning() -> None:
    text = "resolution_matrix: [{event: e, action: a, criticality: Minor, public: true}]"
    assert warnings_of(text) == [
        "resolution_matrix[0].public: has no effect: chat.discord is not configured (line 1)"
    ]


# -- the JSON Schema -------------------------------------------------------------

EXAMPLES = sorted((Path(__file__).parents[2] / "deploy" / "examples").glob("*.yaml"))


def schema_accepts(data: object) -> bool:
    return jsonschema.Draft202012Validator(config_json_schema()).is_valid(data)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_is_valid_for_the_schema_and_the_loader(example: Path) -> None:
    text = example.read_text(encoding="utf-8")
    validator = jsonschema.Draft202012Validator(config_json_schema())
    assert [e.message for e in validator.iter_errors(yaml.safe_load(text))] == []
    parse_config(text, source=str(example), env=ENV)  # raises if the loader disagrees
    assert EXAMPLES, "deploy/examples/ has example configs"


@pytest.mark.parametrize(
    "value",
    ["2m", "90s", "500ms", "1.5h", 90, 0, 2.5, "${HOLD}", "soon", "-5s", -1, "90", True, "2 m"],
)
def test_the_schema_and_the_loader_agree_on_durations(value: object) -> None:
    data = {"networks": {"alpha": {"namespace": "a", "image": "x", "canary_hold": value}}}
    try:
        parse_config(yaml.safe_dump(data), source="t", env={"HOLD": "2m"})
        loader = True
    except ConfigError:
        loader = False
    assert schema_accepts(data) is loader


@pytest.mark.parametrize(
    ("section", "loader"),
    [
        ({"http": {"port": 8080}}, True),
        ({"http": {"port": "${PORT}"}}, True),
        ({"http": {"port": "8080"}}, True),
        ({"http": {"port": "eighty"}}, False),
        ({"http": {"port": 70000}}, False),
        ({"networks": {"Alpha_1": {"namespace": "a", "image": "x"}}}, False),
        ({"networks": {"alpha": {"namespace": "a", "image": "x", "colour": "red"}}}, False),
        ({"incidents": {"auto_close": "yes"}}, True),
        ({"incidents": {"auto_close": "maybe"}}, False),
        ({"logging": {"level": "LOUD"}}, False),
    ],
)
def test_the_schema_and_the_loader_agree_on_other_values(section: object, loader: bool) -> None:
    text = yaml.safe_dump(section)
    try:
        parse_config(text, source="t", env={"PORT": "9000"})
        accepted = True
    except ConfigError:
        accepted = False
    assert accepted is loader
    assert schema_accepts(section) is loader
