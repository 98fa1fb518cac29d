"""Every option of every part is settable from the environment, documented, and validated at start."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from alliance_monitor.cli import build_parser, main, subcommand_parsers
from alliance_monitor.errors import CliError
from alliance_monitor.settings import (
    PART_COMMANDS,
    DeploySettings,
    apply_environment,
    option_vars,
    part_parser,
    reference_markdown,
)

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "settings.md"


def _documented_variables() -> set[str]:
    names: set[str] = set()
    for line in REFERENCE.read_text().splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names.update(re.findall(r"`([A-Z0-9_]+)`", first_cell))
    return names


def test_every_option_of_every_part_has_a_variable_and_a_row():
    parsers = subcommand_parsers(build_parser())
    documented = _documented_variables()
    checked = 0
    for command in PART_COMMANDS:
        if (parser := part_parser(parsers, command)) is None:
            continue
        for opt in option_vars(command, parser):
            assert opt.names and opt.names[0] == f"ALLIANCE_{command}_{opt.dest}".upper().replace(" ", "_").replace(
                "-", "_"), opt
            assert opt.names[0] in documented, f"{command} {opt.flag}: {opt.names[0]} has no row in docs/settings.md"
            checked += 1
    for info in DeploySettings.model_fields.values():
        assert info.validation_alias in documented
    assert checked > 40  # process, score, gateway, sink, up, ... all seen


def test_the_reference_table_is_the_generated_one():
    generated = reference_markdown(subcommand_parsers(build_parser()))
    assert REFERENCE.read_text() == generated, "regenerate: alliance-monitor settings > docs/settings.md"


def test_a_new_flag_without_a_row_is_caught():
    parser = build_parser()
    gateway = subcommand_parsers(parser)["gateway"]
    gateway.add_argument("--brand-new-knob", type=int, default=3)
    names = [o.names[0] for o in option_vars("gateway", gateway)]
    assert "ALLIANCE_GATEWAY_BRAND_NEW_KNOB" in names
    assert "ALLIANCE_GATEWAY_BRAND_NEW_KNOB" not in _documented_variables()


def _args(argv: list[str], env: dict[str, str], monkeypatch) -> object:
    for key in list(os.environ):
        if key.upper().startswith("ALLIANCE_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    parser = build_parser()
    args = parser.parse_args(argv)
    apply_environment(argv[0], subcommand_parsers(parser)[argv[0]], args)
    return args


def test_variables_set_options_and_flags_win(monkeypatch):
    env = {"ALLIANCE_GATEWAY_PORT": "9100", "ALLIANCE_GATEWAY_MAX_QUEUE": "7",
           "alliance_gateway_origin": "https://a.example.org, https://b.example.org",
           "ALLIANCE_GATEWAY_UNVALIDATED_TO_COUNSELORS": "no"}
    args = _args(["gateway"], env, monkeypatch)
    assert (args.port, args.max_queue, args.unvalidated_to_counselors) == (9100, 7, False)
    assert args.origin == ["https://a.example.org", "https://b.example.org"]
    args = _args(["gateway", "--port", "9200", "--origin", "https://c.example.org"], env, monkeypatch)
    assert args.port == 9200 and args.origin == ["https://c.example.org"] and args.max_queue == 7

    args = _args(["process"], {"ALLIANCE_PROCESS_LATENESS": "4.5", "ALLIANCE_PROCESS_IDLE_TIMEOUT": "12",
                               "ALLIANCE_PROCESS_MAX_BATCH_BYTES": "1000000", "ALLIANCE_PROCESS_APP_ID": "p2",
                               "ALLIANCE_DB_URL": "sqlite:////tmp/x.db",
                               "ALLIANCE_PROCESS_NO_PROCESS_ALERTS": "TRUE"}, monkeypatch)
    assert (args.lateness, args.idle_timeout, args.max_batch_bytes, args.app_id) == (4.5, 12.0, 1_000_000, "p2")
    assert args.records_db == "sqlite:////tmp/x.db" and args.no_process_alerts is True

    args = _args(["score"], {"ALLIANCE_SCORE_CONCURRENCY": "2", "ALLIANCE_SCORE_TIMEOUT": "30",
                             "ALLIANCE_SCORE_RETRIES": "0", "ALLIANCE_SCORE_READOUT": "sampled",
                             "ALLIANCE_ENGINE": "transformers"}, monkeypatch)
    assert (args.concurrency, args.timeout, args.retries, args.readout, args.engine) == \
        (2, 30.0, 0, "sampled", "transformers")
    args = _args(["up"], {"ALLIANCE_GATEWAY_PORT": "9300", "ALLIANCE_UP_WITHOUT": "scorer,sink"}, monkeypatch)
    assert args.port == 9300 and args.without == ["scorer", "sink"]


def test_one_variable_names_the_trusted_sources_of_every_part_that_reads_session_records(monkeypatch):
    """streams/ownership.py: process, sink, gateway and up take the same --trusted-source list, from one variable."""
    from alliance_monitor.up import default_specs

    env = {"ALLIANCE_TRUSTED_SOURCE": "platform-a, platform-b"}
    for part in ("process", "sink", "gateway", "up"):
        assert _args([part], env, monkeypatch).trusted_source == ["platform-a", "platform-b"], part
    assert _args(["sink", "--trusted-source", "platform-c"], env, monkeypatch).trusted_source == ["platform-c"]
    args = _args(["up", "--trusted-source", "platform-a"], {}, monkeypatch)
    children = default_specs(args, "127.0.0.1:9092")
    assert {s.env.get("ALLIANCE_TRUSTED_SOURCE") for s in children} == {"platform-a"}


@pytest.mark.parametrize("argv, env, variable", [
    (["gateway"], {"ALLIANCE_GATEWAY_PORT": "70000"}, "ALLIANCE_GATEWAY_PORT"),
    (["process"], {"ALLIANCE_PROCESS_LATENESS": "-1"}, "ALLIANCE_PROCESS_LATENESS"),
    (["score"], {"ALLIANCE_SCORE_CONCURRENCY": "many"}, "ALLIANCE_SCORE_CONCURRENCY"),
    (["up"], {"ALLIANCE_UP_WITHOUT": "processor,kafka"}, "ALLIANCE_UP_WITHOUT"),
    (["sink"], {"ALLIANCE_SINK_UPGRADE": "perhaps"}, "ALLIANCE_SINK_UPGRADE"),
])
def test_a_wrong_value_names_the_variable(argv, env, variable, monkeypatch):
    with pytest.raises(CliError) as err:
        _args(argv, env, monkeypatch)
    assert str(err.value).startswith(variable + " ") and "\n" not in str(err.value)


def _cli(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("ALLIANCE_")}
    clean.update(env, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "alliance_monitor.cli", *argv], capture_output=True, text=True,
                          env=clean, timeout=60)


@pytest.mark.parametrize("argv, env, variable", [
    (["gateway"], {"ALLIANCE_GATEWAY_PORT": "http"}, "ALLIANCE_GATEWAY_PORT"),
    (["topics"], {"ALLIANCE_LOG": "loud"}, "ALLIANCE_LOG"),
    (["topics"], {"ALLIANCE_PARTITIONS": "0"}, "ALLIANCE_PARTITIONS"),
    (["topics"], {"ALLIANCE_REPLICATION_FACTOR": "two"}, "ALLIANCE_REPLICATION_FACTOR"),
    (["topics"], {"ALLIANCE_OFFSET_RESET": "middle"}, "ALLIANCE_OFFSET_RESET"),
    (["score"], {"ALLIANCE_SCORE_TIMEOUT": "0"}, "ALLIANCE_SCORE_TIMEOUT"),
])
def test_the_part_stops_with_one_line_and_exit_2(argv, env, variable):
    result = _cli(argv, env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"alliance-monitor: {variable} "), result.stderr
    assert "Traceback" not in result.stderr


def test_log_level_in_any_case():
    for value in ("info", "Info", "DEBUG"):
        result = _cli(["topics"], {"ALLIANCE_LOG": value})
        assert result.returncode == 0, result.stderr
        assert "chat.turns" in result.stdout


def test_replication_and_offset_reset_reach_the_stream_code(monkeypatch):
    from streams.errors import StreamsError
    from streams.topics import default_partitions, offset_reset, replication_factor

    monkeypatch.setenv("ALLIANCE_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("ALLIANCE_OFFSET_RESET", "Latest")
    monkeypatch.setenv("ALLIANCE_PARTITIONS", "24")
    assert (replication_factor(), offset_reset(), default_partitions()) == (3, "latest", 24)
    monkeypatch.setenv("ALLIANCE_REPLICATION_FACTOR", "0")
    with pytest.raises(StreamsError, match="ALLIANCE_REPLICATION_FACTOR"):
        replication_factor()


@pytest.mark.integration
def test_partitions_and_replication_used_when_creating_topics(kafka_bootstrap, unique, monkeypatch):
    """On the real (one-node) broker: the partition count is honoured; a replication factor it cannot meet fails."""
    from kafka.admin import KafkaAdminClient

    from streams.broker import ensure_topics
    from streams.contracts import ChatTurn
    from streams.topics import TopicSpec

    monkeypatch.setenv("ALLIANCE_PARTITIONS", "3")
    spec = TopicSpec(f"settings-{unique}", ChatTurn, 3_600_000, False, "test")
    assert ensure_topics(kafka_bootstrap, [spec]) == [spec.name]
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        described = admin.describe_topics([spec.name])
        assert len(described[0]["partitions"]) == 3
    finally:
        admin.close()


@pytest.mark.parametrize(("variable", "value"), [("ALLIANCE_GPU_MEMORY_UTILIZATION", "abc"),
                                                 ("ALLIANCE_GPU_MEMORY_UTILIZATION", "1.5"),
                                                 ("ALLIANCE_DTYPE", "float64"), ("VLLM_CPU_KVCACHE_SPACE", "lots"),
                                                 ("ALLIANCE_TORCH_THREADS", "0")])
def test_an_engine_setting_is_checked_at_start_in_one_line(monkeypatch, capsys, variable, value):
    monkeypatch.setenv(variable, value)
    assert main(["topics"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"alliance-monitor: {variable} ")


def test_survey_publish_links_reads_its_base_url_from_the_environment(monkeypatch, capsys):
    parser = build_parser()
    args = parser.parse_args(["survey", "publish-links"])
    monkeypatch.setenv("ALLIANCE_SURVEY_PUBLISH_LINKS_BASE_URL", "https://alliance.example.org")
    apply_environment("survey publish-links", part_parser(subcommand_parsers(parser), "survey publish-links"), args)
    assert args.base_url == "https://alliance.example.org"
    monkeypatch.delenv("ALLIANCE_SURVEY_PUBLISH_LINKS_BASE_URL")
    monkeypatch.setenv("ALLIANCE_GATEWAY_SECRET", "test-only-secret-0123456789")
    assert main(["survey", "publish-links"]) == 2
    assert "ALLIANCE_SURVEY_PUBLISH_LINKS_BASE_URL" in capsys.readouterr().err
