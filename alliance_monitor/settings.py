"""Every setting of every part from the environment: one place, validated at start.

Why: a container, a Kubernetes pod or a systemd unit configures a process by
its environment, not by editing its command line. So every option of every
long-running part (``process``, ``score``, ``gateway``, ``sink``, ``up``, ...)
can also be set as ``ALLIANCE_<COMMAND>_<OPTION>`` (``--max-queue`` of
``gateway`` is ``ALLIANCE_GATEWAY_MAX_QUEUE``); a flag on the command line still
wins. The part-wide settings (log level and format, partitions, replication
factor, offset-reset policy, store URL) are :class:`DeploySettings`.

The per-command settings are pydantic-settings models *derived from the
argparse options*, and every value is checked by the option's own ``type`` and
``choices``, so a variable can never accept what its flag refuses, and a new
flag gets its variable without anyone remembering to add it. A wrong value
stops the part with one line naming the variable (exit 2).

``alliance-monitor settings`` prints the reference table (docs/settings.md is
its output; a test keeps them in step).
"""

from __future__ import annotations

__layer__ = "cli"

import argparse
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Literal

from pydantic import AliasChoices, BeforeValidator, Field, ValidationError, create_model, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams import environment
from streams import kafka_security as ks
from streams.errors import KafkaSecurityError

from .errors import CliError

#: Commands whose options come from the environment too: the parts a deployment runs.
PART_COMMANDS = ("broker", "topics", "process", "score", "sink", "gateway", "ingest", "up", "survey publish-links")

#: Variables that existed before this module, kept as the (first) name of an option.
#: Each is also reachable as ALLIANCE_<COMMAND>_<OPTION>.
SHARED_NAMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("gateway", "port"): ("ALLIANCE_GATEWAY_PORT",),
    ("up", "port"): ("ALLIANCE_GATEWAY_PORT",),
    ("score", "engine"): ("ALLIANCE_ENGINE",),
    ("up", "engine"): ("ALLIANCE_ENGINE",),
    ("score", "model"): ("ALLIANCE_MODEL",),
    ("up", "model"): ("ALLIANCE_MODEL",),
    ("score", "max_model_len"): ("ALLIANCE_MAX_MODEL_LEN",),
    ("score", "bootstrap"): ("KAFKA_BOOTSTRAP",),
    ("sink", "db"): ("ALLIANCE_DB_URL",),
    ("up", "db_url"): ("ALLIANCE_DB_URL",),
    ("process", "records_db"): ("ALLIANCE_DB_URL",),
    ("score", "records_db"): ("ALLIANCE_DB_URL",),
    ("score", "feedback_turns"): ("ALLIANCE_FEEDBACK_TURNS",),
    ("process", "health_port"): ("ALLIANCE_HEALTH_PORT",),
    ("score", "health_port"): ("ALLIANCE_HEALTH_PORT",),
    ("sink", "health_port"): ("ALLIANCE_HEALTH_PORT",),
    # one list of trusted sources for every part that reads session records (streams/ownership.py)
    ("process", "trusted_source"): ("ALLIANCE_TRUSTED_SOURCE",),
    ("sink", "trusted_source"): ("ALLIANCE_TRUSTED_SOURCE",),
    ("gateway", "trusted_source"): ("ALLIANCE_TRUSTED_SOURCE",),
    ("up", "trusted_source"): ("ALLIANCE_TRUSTED_SOURCE",),
}

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class DeploySettings(BaseSettings):
    """Settings every part reads (not tied to one command's flags)."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    log: Annotated[str, Field(validation_alias="ALLIANCE_LOG", description=
                              "log level: debug, info, warning, error (any case)")] = "WARNING"
    log_format: Annotated[Literal["json", "text"], Field(validation_alias="ALLIANCE_LOG_FORMAT", description=
                          "json: one JSON object per line (ids, counts, never message text); text: for a terminal"
                          )] = "text"
    log_redact: Annotated[bool, Field(validation_alias="ALLIANCE_LOG_REDACT", description=
                          "1: names, phones, e-mails, addresses and ID numbers in log lines become [NAME], [PHONE], ..."
                          )] = True
    kafka_bootstrap: Annotated[str | None, Field(validation_alias="KAFKA_BOOTSTRAP", description=
                               "Kafka bootstrap servers; unset: a part fails (--embedded-broker: a development broker)")] = None
    partitions: Annotated[int, Field(ge=1, validation_alias="ALLIANCE_PARTITIONS", description=
                          "partitions per topic when topics are created (the unit of parallelism)")] = 4
    replication_factor: Annotated[int, Field(ge=1, validation_alias="ALLIANCE_REPLICATION_FACTOR", description=
                                  "replicas per topic when topics are created (3 on a production cluster)")] = 1
    offset_reset: Annotated[Literal["earliest", "latest"], Field(validation_alias="ALLIANCE_OFFSET_RESET",
                            description="where a new consumer group starts: earliest (nothing missed) or latest"
                            )] = "earliest"
    db_url: Annotated[str | None, Field(validation_alias="ALLIANCE_DB_URL", description=
                      "SQLAlchemy URL of the store; unset: a SQLite file in ~/.local/share/alliance-monitor")] = None
    store_turns: Annotated[bool, Field(validation_alias="ALLIANCE_STORE_TURNS", description=
                           "1: the sink also stores chat turns (message text, clinical data)")] = False
    turns_retention_days: Annotated[str, Field(validation_alias="ALLIANCE_TURNS_RETENTION_DAYS", description=
                                    "stored turns older than this many days are purged; 0/off keeps them")] = "30"
    audit_retention_days: Annotated[str, Field(validation_alias="ALLIANCE_AUDIT_RETENTION_DAYS", description=
                                    "audit records (who viewed which session) older than this many days are purged; "
                                    "0/off keeps them")] = "365"
    state_dir: Annotated[str | None, Field(validation_alias="ALLIANCE_STATE_DIR", description=
                         "local state (embedded broker, Faust data dir, logs of `up`); default ~/.cache/alliance-monitor"
                         )] = None
    gateway_secret: Annotated[str | None, Field(validation_alias="ALLIANCE_GATEWAY_SECRET", description=
                              "key that signs gateway access tokens (>= 16 bytes); the same on every replica",
                              repr=False)] = None
    gateway_keys: Annotated[str | None, Field(validation_alias="ALLIANCE_GATEWAY_KEYS", description=
                            "several token keys for rotation: kid1=secret1,kid2=secret2 (replaces the single secret)",
                            repr=False)] = None
    gateway_signing_key: Annotated[str | None, Field(validation_alias="ALLIANCE_GATEWAY_SIGNING_KEY", description=
                                   "which kid of ALLIANCE_GATEWAY_KEYS signs new tokens; default: the last listed"
                                   )] = None
    gateway_revoked: Annotated[str | None, Field(validation_alias="ALLIANCE_GATEWAY_REVOKED", description=
                               "file of revoked token ids (jti), one per line (`token revoke` appends to it)"
                               )] = None
    survey_secret: Annotated[str | None, Field(validation_alias="ALLIANCE_SURVEY_SECRET", description=
                             "key that signs client survey links (>= 16 bytes); unset: derived from the gateway secret",
                             repr=False)] = None
    ingest_tokens: Annotated[str | None, Field(validation_alias="ALLIANCE_INGEST_TOKENS", description=
                             "per-platform ingest tokens: platform=token,platform2=token2 (or @/path/to/file)",
                             repr=False)] = None

    # the scorer's engine (read by scoring/engines and scoring/models; checked here: one line at start)
    dtype: Annotated[Literal["", "auto", "float32", "float16", "bfloat16", "half", "float"], Field(
        validation_alias="ALLIANCE_DTYPE", description="scorer: engine dtype (auto, float32, float16, bfloat16); "
                                                       "empty: float32 on CPU, auto on a GPU")] = ""
    gpu_memory_utilization: Annotated[float, Field(gt=0, le=1, validation_alias="ALLIANCE_GPU_MEMORY_UTILIZATION",
                                      description="scorer (vLLM on a GPU): share of the GPU's memory vLLM takes")] = 0.85
    vllm_cpu_kvcache_space: Annotated[int, Field(ge=1, validation_alias="VLLM_CPU_KVCACHE_SPACE", description=
                                      "scorer (vLLM on CPU): GiB of KV cache")] = 2
    torch_threads: Annotated[int | None, Field(ge=1, validation_alias="ALLIANCE_TORCH_THREADS", description=
                             "scorer (transformers on CPU) and train's hidden pass: intra-op threads; unset: half "
                             "the cores (every core for train)")] = None
    model_cache: Annotated[str | None, Field(validation_alias="ALLIANCE_MODEL_CACHE", description=
                           "where models are kept (`models pull-demo`, trained adapters and heads); "
                           "unset: ~/.cache/alliance-monitor/models")] = None

    kafka_security_protocol: Annotated[str, Field(validation_alias=ks.PROTOCOL_ENV, description=
                                       "Kafka security: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (every Kafka "
                                       "client of every part; needs KAFKA_BOOTSTRAP)")] = "PLAINTEXT"
    kafka_sasl_mechanism: Annotated[str, Field(validation_alias=ks.MECHANISM_ENV, description=
                                    "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")] = "SCRAM-SHA-512"
    kafka_sasl_username: Annotated[str | None, Field(validation_alias=ks.USERNAME_ENV, description=
                                   "SASL user (principal) of this part, e.g. alliance-gateway")] = None
    kafka_sasl_password: Annotated[str | None, Field(validation_alias=ks.PASSWORD_ENV, description=
                                   "SASL password (or KAFKA_SASL_PASSWORD_FILE)", repr=False)] = None
    kafka_sasl_password_file: Annotated[str | None, Field(validation_alias=ks.PASSWORD_FILE_ENV, description=
                                        "file holding the SASL password (a mounted secret)")] = None
    kafka_ssl_cafile: Annotated[str | None, Field(validation_alias=ks.CAFILE_ENV, description=
                                "CA certificate (PEM) that signed the brokers' certificates; unset: system CAs"
                                )] = None
    kafka_ssl_certfile: Annotated[str | None, Field(validation_alias=ks.CERTFILE_ENV, description=
                                  "client certificate (PEM) for mutual TLS, with KAFKA_SSL_KEYFILE")] = None
    kafka_ssl_keyfile: Annotated[str | None, Field(validation_alias=ks.KEYFILE_ENV, description=
                                 "private key (PEM) of KAFKA_SSL_CERTFILE")] = None

    @field_validator("log", mode="before")
    @classmethod
    def _level(cls, value: Any) -> str:
        level = str(value).strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(x.lower() for x in LOG_LEVELS)}")
        return level

    @field_validator("turns_retention_days", "audit_retention_days", mode="before")
    @classmethod
    def _retention(cls, value: Any) -> str:
        text = str(value).strip().lower()
        if text in ("", "default", "0", "none", "off", "forever"):
            return text
        try:
            float(text)
        except ValueError:
            raise ValueError("must be a number of days (0 or off keeps them forever)") from None
        return text


def load_deploy_settings() -> DeploySettings:
    """The part-wide settings, or a one-line :class:`CliError` naming the variable."""
    try:
        settings = DeploySettings()
        ks.security_from_env()  # the Kafka security settings, checked together (streams/kafka_security.py)
        return settings
    except ValidationError as err:
        raise CliError(_first_error(err, DeploySettings)) from None
    except KafkaSecurityError as err:
        raise CliError(str(err)) from None


# --------------------------------------------------------------------------- per-command settings


@dataclass(frozen=True)
class OptionVar:
    """One command-line option and the environment variables that set it."""

    command: str
    dest: str
    flag: str
    names: tuple[str, ...]
    default: Any
    help: str
    action: argparse.Action


def env_name(command: str, dest: str) -> str:
    """``survey publish-links --base-url`` is ALLIANCE_SURVEY_PUBLISH_LINKS_BASE_URL."""
    return f"ALLIANCE_{command}_{dest}".upper().replace("-", "_").replace(" ", "_")


def part_parser(subparsers: dict[str, argparse.ArgumentParser], command: str) -> argparse.ArgumentParser | None:
    """The parser of a part: a subcommand (``process``) or a subcommand's action (``survey publish-links``)."""
    first, _, action = command.partition(" ")
    parser = subparsers.get(first)
    if parser is None or not action:
        return parser
    for act in parser._actions:  # noqa: SLF001 - argparse has no public accessor
        if isinstance(act, argparse._SubParsersAction):
            return act.choices.get(action)
    return None


def part_of(args: argparse.Namespace) -> str | None:
    """The part a parsed command line runs, as PART_COMMANDS names it (None: not a part)."""
    for command in PART_COMMANDS:
        first, _, action = command.partition(" ")
        if args.command == first and (not action or getattr(args, f"{first}_command", None) == action):
            return command
    return None


def option_vars(command: str, parser: argparse.ArgumentParser) -> list[OptionVar]:
    """Every option of ``command`` (not positionals, not --help) with its variable names."""
    out = []
    for action in parser._actions:  # noqa: SLF001 - argparse has no public list of actions
        if not action.option_strings or isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        names = (env_name(command, action.dest),) + tuple(
            n for n in SHARED_NAMES.get((command, action.dest), ()) if n != env_name(command, action.dest))
        flag = max(action.option_strings, key=len)
        out.append(OptionVar(command, action.dest, flag, names, action.default, action.help or "", action))
    return out


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def _converter(action: argparse.Action) -> Callable[[Any], Any]:
    """The option's own parsing (type + choices), applied to an environment string."""

    def one(text: str) -> Any:
        convert = action.type
        value = convert(text) if callable(convert) else text
        if action.choices is not None and value not in action.choices:
            raise ValueError(f"must be one of {', '.join(map(str, action.choices))}")
        return value

    def convert(raw: Any) -> Any:
        if not isinstance(raw, str):
            return raw
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            text = raw.strip().lower()
            if text not in _TRUE + _FALSE:
                raise ValueError("must be 1/true/yes/on or 0/false/no/off")
            on = text in _TRUE
            return on if isinstance(action, argparse._StoreTrueAction) else not on
        try:
            if isinstance(action, argparse._AppendAction):
                return [one(part.strip()) for part in raw.split(",") if part.strip()]
            return one(raw.strip())
        except argparse.ArgumentTypeError as err:
            raise ValueError(str(err)) from None

    return convert


class _CommandSettings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")


def settings_model(command: str, parser: argparse.ArgumentParser) -> type[BaseSettings]:
    """A pydantic-settings model of ``command``'s options, each read from its variable(s)."""
    fields: dict[str, Any] = {}
    for opt in option_vars(command, parser):
        fields[opt.dest] = (
            Annotated[Any, BeforeValidator(_converter(opt.action))],
            Field(default=None, validation_alias=AliasChoices(*opt.names), description=opt.help),
        )
    return create_model(f"{command.title().replace('-', '')}Settings", __base__=_CommandSettings, **fields)


def _first_error(err: ValidationError, model: type[BaseSettings]) -> str:
    e = err.errors()[0]
    field = str(e["loc"][0]) if e.get("loc") else "?"
    info = model.model_fields.get(field)
    names: tuple[str, ...] = (field,)
    if info is not None and isinstance(info.validation_alias, AliasChoices):
        names = tuple(str(c) for c in info.validation_alias.choices)
    elif info is not None and isinstance(info.validation_alias, str):
        names = (info.validation_alias,)
    name = environment.spelled(names) or names[0]
    msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
    if not msg.startswith("must "):
        msg = "must be valid: " + msg[:1].lower() + msg[1:]
    value = e.get("input")
    secret = field in ("gateway_secret", "gateway_keys", "survey_secret", "ingest_tokens", "kafka_sasl_password")
    shown = f" (got {value!r})" if isinstance(value, str) and not secret and repr(value) not in msg else ""
    return f"{name} {msg}{shown}"


# --------------------------------------------------------------------------- argparse bridge


_TRACKED: dict[type, type] = {}


def _tracked_class(base: type[argparse.Action]) -> type[argparse.Action]:
    if base not in _TRACKED:
        def __call__(self, parser, namespace, values, option_string=None):  # noqa: N807
            given = set(getattr(namespace, "_given_options", set()))
            given.add(self.dest)
            namespace._given_options = given
            return base.__call__(self, parser, namespace, values, option_string)

        _TRACKED[base] = type(f"Tracked{base.__name__}", (base,), {"__call__": __call__})
    return _TRACKED[base]


def prepare_parser(command: str, parser: argparse.ArgumentParser) -> None:
    """Remember which options were given on the command line, and name each option's variable in --help."""
    for opt in option_vars(command, parser):
        action = opt.action
        action.__class__ = _tracked_class(type(action))
        if "[env " not in (action.help or ""):
            action.help = f"{action.help or ''} [env {opt.names[0]}]".strip()


def apply_environment(command: str, parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Fill every option not given as a flag from its variable; a bad value is a one-line CliError."""
    model = settings_model(command, parser)
    try:
        values = model()
    except ValidationError as err:
        raise CliError(_first_error(err, model)) from None
    given: set[str] = getattr(args, "_given_options", set())
    for name in model.model_fields:
        value = getattr(values, name)
        if value is not None and name not in given:
            setattr(args, name, value)


# --------------------------------------------------------------------------- reference table


def reference_rows(subparsers: dict[str, argparse.ArgumentParser]) -> list[tuple[str, str, str, str]]:
    """(variable, part, default, meaning) for the part-wide settings, then every option of every part."""
    rows = []
    for info in DeploySettings.model_fields.values():
        default = info.default
        rows.append((str(info.validation_alias), "every part", "" if default is None else str(default).lower() if isinstance(default, bool) else str(default),
                     info.description or ""))
    for command in PART_COMMANDS:
        parser = part_parser(subparsers, command)
        if parser is None:
            continue
        for opt in option_vars(command, parser):
            default = opt.default
            if isinstance(opt.action, argparse._StoreTrueAction):
                default = "false"
            shown = "" if default in (None, [], argparse.SUPPRESS) else str(default)
            meaning = opt.help.split(" [env ")[0].replace("|", "\\|").replace("\n", " ")
            rows.append((" or ".join(opt.names), f"`{command} {opt.flag}`", shown, meaning))
    return rows


def reference_markdown(subparsers: dict[str, argparse.ArgumentParser]) -> str:
    lines = [
        "# Settings reference",
        "",
        "Generated by `alliance-monitor settings > docs/settings.md`; a test fails when it is out of step.",
        "",
        "Every option of every part can be set in the environment; a flag on the command line wins.",
        "Variables are read case-insensitively; booleans take 1/true/yes/on or 0/false/no/off; options",
        "that repeat (`--origin`, `--without`) take a comma-separated list. A wrong value stops the part",
        "with one line naming the variable (exit 2).",
        "",
        "| variable | part | default | meaning |",
        "|---|---|---|---|",
    ]
    for var, part, default, meaning in reference_rows(subparsers):
        cells = [f"`{var.replace(' or ', '` or `')}`", part, f"`{default}`" if default else "", meaning]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Variables the packages read",
        "",
        "Every variable a package reads is catalogued in `streams/environment.py`, the one module that reads",
        "the process environment; the table above is what the command line reads and validates at start",
        "(pydantic-settings, `alliance_monitor/settings.py`). A package reads its variables exactly as set",
        "(case-sensitive) when it needs them; a variable in both tables is read both ways.",
        "",
        "| variable | read by | default | meaning |",
        "|---|---|---|---|",
    ]
    for variable in environment.VARIABLES.values():
        meaning = variable.meaning.replace("|", "\\|")
        cells = [f"`{variable.name}`", variable.read_by, f"`{variable.default}`" if variable.default else "", meaning]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
