"""The Piccolo app that owns every Kurultai table and the top-level `migrations/` folder."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

import deliberation.tables  # noqa: F401  # each registers its domain's tables
import voting.tables  # noqa: F401
from kurultai.db import define_tables
from kurultai.piccolo_conf import DEVELOPMENT_DB

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def all_tables() -> list:
    """Every table, bound to Piccolo's development engine (`piccolo migrations new kurultai --auto`),
    never to a database being migrated when this module is first imported."""
    tables: dict = {}
    define_tables(DEVELOPMENT_DB, tables)
    return list(tables.values())


APP_CONFIG = AppConfig(
    app_name="kurultai",
    migrations_folder_path=str(MIGRATIONS_DIR),
    table_classes=all_tables(),
)
