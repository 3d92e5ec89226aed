"""Piccolo's configuration module (PICCOLO_CONF=kurultai.piccolo_conf).

Piccolo's migration machinery finds its engine here. `kurultai.db.Database` replaces `DB` with
the engine built from `Settings` before it runs migrations, so nothing is bound at import time
except a placeholder used by `piccolo migrations new kurultai --auto` during development
(`DEVELOPMENT_DB`, on which `kurultai.piccolo_app` defines the tables it shows Piccolo).
"""

from piccolo.conf.apps import AppRegistry
from piccolo.engine.sqlite import SQLiteEngine

DEVELOPMENT_DB = SQLiteEngine(path="data/piccolo-dev.sqlite3")
DB = DEVELOPMENT_DB

APP_REGISTRY = AppRegistry(apps=["kurultai.piccolo_app"])
