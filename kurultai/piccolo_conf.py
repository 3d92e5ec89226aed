"""Piccolo's configuration module (PICCOLO_CONF=kurultai.piccolo_conf).

Piccolo's migration machinery finds its engine here. `kurultai.db.Database` replaces `DB` with
the engine built from `Settings` before it runs migrations, so nothing is bound at import time
except a placeholder used by `piccolo migrations new kurultai --auto` during development.
"""

from piccolo.conf.apps import AppRegistry
from piccolo.engine.sqlite import SQLiteEngine

DB = SQLiteEngine(path="data/piccolo-dev.sqlite3")

APP_REGISTRY = AppRegistry(apps=["kurultai.piccolo_app"])
