"""Opening the registry's database: SQLite under BASTION_HOME by default, PostgreSQL with BASTION_DB_URL; migrated
to the latest schema on every open.

SQLite transactions start with ``BEGIN IMMEDIATE``: writers queue on the database lock up front instead of failing
half-way when a reader upgrades, and schema changes (SQLite's DDL is transactional) commit whole or not at all. On
PostgreSQL an advisory lock keeps two processes from migrating at once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.core import BastionError, bastion_home

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

URL_VARIABLE = "BASTION_DB_URL"
DATABASE_NAME = "registry.db"
_MIGRATIONS = Path(__file__).with_name("migrations")
HEAD_REVISION = "0004"
"""The newest migration's revision (a test checks it against the migrations): a database already there is opened
without loading Alembic, which would cost every command a third of a second."""
_MIGRATION_LOCK = 0x62617374  # "bast": the PostgreSQL advisory lock taken while migrating


def database_url() -> str:
    """``$BASTION_DB_URL``, or the SQLite file ``BASTION_HOME/registry.db``."""
    url = os.environ.get(URL_VARIABLE)
    if url:
        # SQLAlchemy's default PostgreSQL driver is psycopg2; Bastion ships psycopg 3.
        return "postgresql+psycopg://" + url.removeprefix("postgresql://") if url.startswith("postgresql://") else url
    return f"sqlite:///{bastion_home() / DATABASE_NAME}"


def open_engine(url: str | None = None, *, create: bool = False) -> Engine:
    """An engine on ``url`` (default ``database_url()``), its schema migrated to the latest revision.

    A SQLite file that does not exist is created only with ``create`` (``bastion init``): any other command run in
    the wrong directory is told so instead of leaving an empty registry behind.
    """
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    url = url or database_url()
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise BastionError(f"{URL_VARIABLE}: not a database URL: {_redacted(url)}") from None
    try:
        if parsed.get_backend_name() == "sqlite":
            _create_sqlite_file(parsed.database, create)
            engine = create_engine(parsed, connect_args={"timeout": 60})
            event.listen(engine, "connect", _sqlite_connect)
            event.listen(engine, "begin", _sqlite_begin)
        else:
            engine = create_engine(parsed, pool_pre_ping=True)
    except NoSuchModuleError:
        raise BastionError(f"{URL_VARIABLE}: no driver for {parsed.drivername}; use sqlite or postgresql") from None
    except ImportError as exc:
        raise BastionError(
            f"{URL_VARIABLE}: the driver {exc.name} is not installed; Bastion supports sqlite:// and postgresql:// "
            "(pip install 'bastion-mlsecops[postgres]')"
        ) from None
    migrate(engine)
    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema up to the latest migration, in one transaction."""
    from sqlalchemy import inspect, text
    from sqlalchemy.exc import OperationalError

    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            if inspect(connection).has_table("alembic_version"):
                current = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
                if current == HEAD_REVISION:
                    return
            from alembic import command
            from alembic.config import Config

            config = Config()
            config.set_main_option("script_location", str(_MIGRATIONS))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        raise BastionError(f"{_redacted(str(engine.url))}: cannot open the registry database: {one_line(exc.orig)}") from None


def one_line(error: object) -> str:
    """A driver's message on one line (psycopg's span several)."""
    return " ".join(str(error).split())


def _create_sqlite_file(database: str | None, create: bool) -> None:
    """Create the database file readable by its owner only, before SQLite creates it with the umask's mode."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.exists():
        return
    if not create:
        raise BastionError(f"{path}: no registry here; run 'bastion init' first, or set BASTION_HOME or {URL_VARIABLE}")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    except OSError as exc:
        raise BastionError(f"{path}: cannot create the registry database: {exc.strerror or exc}") from None


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN IMMEDIATE instead
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"
