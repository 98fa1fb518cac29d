"""Engines and migrations: one place that knows how to open the store.

Why Alembic is driven from code: ``alliance-monitor db upgrade`` must work from
any working directory and from an installed package, so the migrations folder is
located relative to this package (source checkout / editable install) or as the
installed ``migrations`` package (wheel), never relative to the cwd.
"""

from __future__ import annotations

__layer__ = "shell"

import importlib.util
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from streams import environment

from .errors import StoreError
from .settings import StoreSettings

__all__ = ["StoreError"]  # re-exported: callers catch it from here too


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for display
        return "<unparseable url>"


def make_engine(url: str | None = None, **kwargs) -> Engine:
    """An engine for ``url`` (default: settings); SQLite gets FKs, WAL and a busy timeout."""
    url = url or StoreSettings.from_env().db_url
    try:
        parsed = make_url(url)
    except Exception as err:  # noqa: BLE001
        raise StoreError(f"not a database URL: {safe_url(url)} ({err})") from None
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:" and not db.startswith("file:"):
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {}).setdefault("timeout", 30)
    else:
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")  # the CLI can read while the sink writes
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


# -- migrations -------------------------------------------------------------------------------

def _is_migrations_dir(path: Path) -> bool:
    return (path / "env.py").is_file() and (path / "versions").is_dir()


def migrations_dir() -> Path:
    """The Alembic script directory, wherever the package is installed."""
    candidates: list[Path] = []
    override = environment.get("ALLIANCE_MIGRATIONS_DIR")
    if override:
        candidates.append(Path(override))
    candidates.append(Path(__file__).resolve().parent.parent / "migrations")  # checkout / editable
    spec = importlib.util.find_spec("migrations")  # wheel: shipped as a package
    if spec and spec.submodule_search_locations:
        candidates.extend(Path(p) for p in spec.submodule_search_locations)
    for path in candidates:
        if _is_migrations_dir(path):
            return path
    raise StoreError("cannot find the Alembic migrations folder (set ALLIANCE_MIGRATIONS_DIR)")


def alembic_config(url: str):
    from alembic.config import Config

    path = migrations_dir()
    ini = path / "alembic.ini"
    cfg = Config(str(ini)) if ini.is_file() else Config()
    cfg.set_main_option("script_location", str(path))
    # '%' must be escaped for ConfigParser; env.py reads the URL from attributes instead.
    cfg.attributes["db_url"] = url
    cfg.attributes["configure_logging"] = False
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    make_engine(url).dispose()  # creates the SQLite parent dir
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None, "migrations/ has a head revision"
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def require_schema(engine: Engine) -> None:
    """Raise a one-line StoreError unless the database is migrated to head."""
    try:
        rev = current_revision(engine)
    except Exception as err:  # noqa: BLE001 - unreachable server, bad file...
        raise StoreError(f"cannot open the store at {safe_url(str(engine.url))}: {type(err).__name__}") from None
    head = head_revision()
    if rev is None:
        raise StoreError(
            f"the store at {safe_url(str(engine.url))} has no schema; run `alliance-monitor db upgrade`"
        )
    if rev != head:
        raise StoreError(
            f"the store at {safe_url(str(engine.url))} is at revision {rev}, not {head}; "
            "run `alliance-monitor db upgrade`"
        )


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def store_answers(engine: Engine) -> bool:
    """Does the store answer ``SELECT 1`` now? The sink's health check (alliance_monitor/health.py); a hung
    connect simply never answers, and the probe's staleness turns that into 503."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except (SQLAlchemyError, OSError):
        return False
