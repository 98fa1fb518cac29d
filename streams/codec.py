"""orjson (de)serialisation of the contracts, and a Faust codec around it.

Decoding never lets a raw pydantic traceback escape: a bad record becomes a
:class:`ContractError` whose message names each offending field, e.g.
``ChatTurn.text: must not be empty or only whitespace``. That message is what
goes into the dead-letter record and the CLI's one-line error.
"""

from __future__ import annotations

__layer__ = "contract"

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Literal, TypeVar

import orjson
from pydantic import ValidationError

from .contracts import CONTRACTS, Contract, DeadLetter
from .errors import ContractError

if TYPE_CHECKING:
    from faust.serializers.codecs import Codec

M = TypeVar("M", bound=Contract)


def _format_validation_error(model: type[Contract], err: ValidationError) -> ContractError:
    problems = []
    for e in err.errors(include_url=False):
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "__root__")
        field = f"{model.__name__}.{loc}" if loc else model.__name__
        msg = e.get("msg", "invalid")
        if e.get("type") == "missing":
            msg = "is required"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        elif e.get("type") == "extra_forbidden":
            msg = "is not a field of this contract"
        problems.append(f"{field}: {msg}")
    return ContractError(model.__name__, problems)


def safe_reason(err: BaseException) -> str:
    """Why something failed, fit for a log line or a dead letter: never a field's value.

    ``str()`` of a pydantic ``ValidationError`` quotes the offending input (a chat
    message, a quote); a stray exception may carry anything. This names the
    fields and problems of a validation error, and otherwise only the exception
    type and where it was raised.
    """
    if isinstance(err, ContractError):
        return str(err)
    if isinstance(err, ValidationError):
        title = err.title or "model"
        model = CONTRACTS.get(title)
        if model is not None:
            return str(_format_validation_error(model, err))
        return "; ".join(f"{title}.{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
                         for e in err.errors(include_url=False, include_input=False))
    where = ""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None:
        code = tb.tb_frame.f_code
        where = f" in {code.co_name} ({code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno})"
    return f"{type(err).__name__}{where}"


def encode(event: Contract) -> bytes:
    """Serialise a contract to compact JSON bytes (UTC timestamps, ISO 8601)."""
    return orjson.dumps(event.model_dump(mode="python"), option=orjson.OPT_UTC_Z)


def validate(model: type[M], data: Any) -> M:
    """Validate an already-parsed mapping, raising :class:`ContractError`."""
    if not isinstance(data, dict):
        raise ContractError(model.__name__, [f"{model.__name__}: expected a JSON object, got {type(data).__name__}"])
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise _format_validation_error(model, err) from None


def decode(model: type[M], raw: bytes | str) -> M:
    """Parse and validate bytes from a topic, raising :class:`ContractError`."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise ContractError(model.__name__, [f"{model.__name__}: not valid JSON ({err})"]) from None
    return validate(model, data)


def dead_letter(
    source_topic: str,
    reason: str,
    raw: bytes | str | None,
    *,
    key: bytes | str | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> DeadLetter:
    """Wrap a rejected record so nothing about it is lost."""
    if raw is None:
        raw_b = b""
    elif isinstance(raw, str):
        raw_b = raw.encode("utf-8")
    else:
        raw_b = raw
    encoding: Literal["utf-8", "base64"]
    try:
        text, encoding = raw_b.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(raw_b).decode("ascii"), "base64"
    if isinstance(key, bytes):
        key = key.decode("utf-8", errors="replace")
    return DeadLetter(
        source_topic=source_topic,
        reason=reason,
        raw=text,
        raw_encoding=encoding,
        key=key,
        partition=partition,
        offset=offset,
    )


@dataclass(frozen=True)
class Rejected:
    """What a lenient Faust codec hands an agent instead of a bad record.

    Faust drops records whose value fails to decode (logging only). Returning a
    ``Rejected`` instead lets the agent route the raw bytes and the reason to
    the ``.dlq`` topic and keep going, as docs/architecture.md#the-contracts describes.
    """

    reason: str
    raw: bytes


def faust_codec(model: type[Contract], *, lenient: bool = True) -> Codec:
    """A Faust ``Codec`` that yields ``model`` instances (or :class:`Rejected`)."""
    from faust.serializers import codecs

    class ContractCodec(codecs.Codec):
        def _dumps(self, obj: Any) -> bytes:
            if isinstance(obj, Contract):
                return encode(obj)
            if isinstance(obj, (bytes, bytearray)):
                return bytes(obj)
            return orjson.dumps(obj, option=orjson.OPT_UTC_Z)

        def _loads(self, s: bytes) -> Any:
            try:
                return decode(model, s)
            except ContractError as err:
                if not lenient:
                    raise
                return Rejected(reason=str(err), raw=bytes(s))

    return ContractCodec()


def codec_name(model: type[Contract]) -> str:
    return f"alliance.{model.__name__}"


def register_faust_codecs() -> None:
    """Register one codec per contract as ``alliance.<Model>`` (idempotent)."""
    from faust.serializers import codecs

    for model in CONTRACTS.values():
        codecs.register(codec_name(model), faust_codec(model))


@dataclass(frozen=True)
class JsonLine:
    """One line of a JSON Lines file: where it is, and its value or why it is not JSON."""

    source: str  # "file:line"
    lineno: int
    data: Any = None
    error: str | None = None  # "not valid JSON (...)"


def json_lines(path: str | Path) -> Iterator[JsonLine]:
    """The lines of a JSON Lines file (replay files, label files); blank and ``#`` lines skipped."""
    path = Path(path)
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            line = raw.strip()
            if not line or line.startswith(b"#"):
                continue
            try:
                yield JsonLine(f"{path}:{lineno}", lineno, orjson.loads(line))
            except orjson.JSONDecodeError as err:
                yield JsonLine(f"{path}:{lineno}", lineno, error=f"not valid JSON ({err.msg})")
