"""The publisher: committed events go to Litestar Channels, one channel per assembly.

`Ctx.publish` is called after a write transaction has committed, with its events in seq order.
The in-process memory backend is the default; with `KURULTAI_REDIS_URL` the Redis pub/sub backend
carries the events to every process. Neither keeps history: the event table does (kurultai/unit_of_work.py).
A message lost on the way (a crash between commit and publish, a Redis hiccup) is recovered by
the hubs, which fill every gap from the event log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Iterable
from typing import Any

from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend

from kurultai.settings import Settings
from kurultai.unit_of_work import EventRecord
from realtime.schemas import BusMessage, bus_encoder

log = logging.getLogger("kurultai.realtime")

#: The Channels subscriber backlog of each hub (one subscriber per assembly and process).
#: Overflow drops the oldest message; the hub then sees a gap and reads it from the log.
HUB_BACKLOG = 10_000
#: Backoff of the Redis subscription's reconnects (seconds).
RECONNECT_MIN_S = 0.1
RECONNECT_MAX_S = 2.0


def channel_name(settings: Settings, assembly_id: int) -> str:
    return f"{settings.redis_prefix}assembly.{assembly_id}"


def make_backend(settings: Settings) -> ChannelsBackend:
    if settings.redis_url:
        from redis.asyncio import Redis

        return resilient_redis_backend(Redis.from_url(settings.redis_url))
    return MemoryChannelsBackend()


def resilient_redis_backend(redis: Any) -> ChannelsBackend:
    """Litestar's Redis pub/sub backend, made to survive a Redis restart.

    As shipped, one failed publish ends the Channels publishing task (later events queue up in
    memory forever and shutdown waits on them), and a lost connection ends the subscribing task
    (no live event reaches this process again). Here a publish that fails is logged and dropped
    (the event is in the log; the hubs fill it at their next tick), and the subscription
    reconnects with a backoff; redis-py subscribes again to every channel on reconnect.
    """
    from litestar.channels.backends.redis import RedisChannelsPubSubBackend

    class ResilientRedisPubSubBackend(RedisChannelsPubSubBackend):
        async def publish(self, data: bytes, channels: Iterable[str]) -> None:
            try:
                await super().publish(data, channels)
            except Exception as exc:  # Redis down or restarting
                log.warning("publishing on Redis failed (%r); the hubs will read the event from the log", exc)

        async def subscribe(self, channels: Iterable[str]) -> None:
            try:
                await super().subscribe(channels)
            except Exception as exc:  # remember them: the reconnect below subscribes to them
                log.warning("subscribing on Redis failed (%r); retrying when it is back", exc)
                self._pub_sub.channels.update(self._pub_sub._normalize_keys(dict.fromkeys(channels)))
                self._has_subscribed.set()

        async def unsubscribe(self, channels: Iterable[str]) -> None:
            try:
                await super().unsubscribe(channels)
            except Exception as exc:
                log.warning("unsubscribing on Redis failed (%r)", exc)
                for key in self._pub_sub._normalize_keys(dict.fromkeys(channels)):
                    self._pub_sub.channels.pop(key, None)

        async def stream_events(self) -> AsyncGenerator[tuple[str, Any], None]:
            delay = RECONNECT_MIN_S
            while True:
                try:
                    async for item in super().stream_events():
                        delay = RECONNECT_MIN_S
                        yield item
                except Exception as exc:
                    log.warning("the Redis subscription failed (%r); reconnecting in %.1f s", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RECONNECT_MAX_S)
                    pubsub = self._pub_sub
                    if pubsub.connection is None and pubsub.channels:  # never connected: subscribe now
                        try:
                            await pubsub.subscribe(*[pubsub.encoder.decode(k, force=True) for k in pubsub.channels])
                        except Exception:
                            log.debug("Redis is still unreachable", exc_info=True)
                # otherwise the next read reconnects, and redis-py subscribes to every channel again

    return ResilientRedisPubSubBackend(redis=redis)


def make_channels(settings: Settings) -> ChannelsPlugin:
    return ChannelsPlugin(
        backend=make_backend(settings),
        arbitrary_channels_allowed=True,
        subscriber_max_backlog=HUB_BACKLOG,
        subscriber_backlog_strategy="dropleft",
    )


def encode(event: EventRecord) -> bytes:
    return bus_encoder.encode(BusMessage(event.assembly_id, event.seq, event.type, event.ts_ms, event.data))


class ChannelsPublisher:
    """`await publisher(events)`: queue each committed event on its assembly's channel.

    `ChannelsPlugin.publish` only enqueues (it never waits on the network), so a write's caller
    is not slowed by the fan-out, and events of one call keep their order.
    """

    def __init__(self, channels: ChannelsPlugin, settings: Settings) -> None:
        self.channels = channels
        self.settings = settings

    async def __call__(self, events: list[EventRecord]) -> None:
        for event in events:
            try:
                self.channels.publish(encode(event), channel_name(self.settings, event.assembly_id))
            except RuntimeError as exc:  # not started (a CLI run): the log has the event anyway
                log.debug("event %s/%s not published: %s", event.assembly_id, event.seq, exc)
