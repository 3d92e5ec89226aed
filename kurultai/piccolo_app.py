"""The Piccolo app that owns every Kurultai table and the top-level `migrations/` folder."""

from pathlib import Path

from piccolo.conf.apps import AppConfig
from piccolo.engine.sqlite import SQLiteEngine

import deliberation.tables  # noqa: F401  # each registers its domain's tables
import kurultai.unit_of_work  # noqa: F401  # the outbox and the audit chain
import voting.tables  # noqa: F401
from kurultai.db import define_tables

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
#: The engine the tables shown to Piccolo are defined on: a placeholder of their own, never the
#: database being migrated (`kurultai.piccolo_conf.DB` while `Database.migrate` runs).
DEVELOPMENT_DB = SQLiteEngine(path="data/piccolo-dev.sqlite3")


def all_tables() -> list:
    """Every table, bound to Piccolo's development engine (`piccolo migrations new kurultai --auto`),
    never to a database being migrated when this module is first imported."""
    return list(define_tables(DEVELOPMENT_DB).values())


APP_CONFIG = AppConfig(
    app_name="kurultai",
    migrations_folder_path=str(MIGRATIONS_DIR),
    table_classes=all_tables(),
)
