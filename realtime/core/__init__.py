"""The pure logic of live events: ordering, visibility, close codes, throttling, origins.

Nothing here imports litestar, asyncio, msgspec or the database: the shell (`realtime/*.py`)
feeds these functions plain values.
"""
