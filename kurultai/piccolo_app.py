"""The Piccolo app that owns every Kurultai table and the top-level `migrations/` folder."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from deliberation.tables import TABLES

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def all_tables() -> list:
    from voting.tables import TABLES as VOTING_TABLES

    return [*TABLES, *VOTING_TABLES]


APP_CONFIG = AppConfig(
    app_name="kurultai",
    migrations_folder_path=str(MIGRATIONS_DIR),
    table_classes=all_tables(),
)
