"""Prometheus metrics at `/metrics`: ballots accepted and rejected by code, websocket
connections, event delay, tree sizes and the event loop's lag. One registry per app (tests
build many apps)."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from litestar import Request, Response, get
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kurultai.unit_of_work import EventRecord


class _TreeSizes(Collector):
    def __init__(self, board: Any) -> None:
        self.board = board

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("kurultai_tree_size", "Leaves on the ballot board of each election this process serves", labels=["election"])
        for eid, state in list(self.board.states.items()):
            family.add_metric([str(eid)], state.size)
        yield family


#: How often the event loop's lag is sampled.
LOOP_PROBE_S = 0.02


class Metrics:
    def __init__(self, connections: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        self.ballots_accepted = Counter("kurultai_ballots_accepted", "Ballots accepted onto a board (a repeat of an accepted ballot counts as 'repeat')", ["kind"], registry=self.registry)
        self.ballots_rejected = Counter("kurultai_ballots_rejected", "Ballots refused, by PROTOCOL §5 error code", ["code"], registry=self.registry)
        # Bound once: `labels()` takes a lock and looks the child up, thousands of times a second.
        self.ballots_new = self.ballots_accepted.labels("new")
        self.ballots_repeat = self.ballots_accepted.labels("repeat")
        self.connections = Gauge("kurultai_websocket_connections", "Open websocket connections on this process", registry=self.registry)
        self.connections.set_function(connections)
        self.event_delay = Histogram(
            "kurultai_event_delay_seconds",
            "From an event's commit to its publication to the connected clients",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )

        self.loop_lag = Histogram(
            "kurultai_event_loop_lag_seconds",
            f"How late a timer of this process's event loop fired (sampled every {LOOP_PROBE_S * 1000:.0f} ms)",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0),
            registry=self.registry,
        )
        self.loop_lag_max = Gauge("kurultai_event_loop_lag_max_seconds", "The largest event-loop lag seen since the process started", registry=self.registry)
        self.max_lag = 0.0
        self._monitor: asyncio.Task[None] | None = None
        self.gc_pause = Histogram(
            "kurultai_gc_pause_seconds",
            "How long each run of the cyclic garbage collector held the process, by generation",
            ["generation"],
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5),
            registry=self.registry,
        )
        self._gc_children = [self.gc_pause.labels(str(g)) for g in range(3)]
        self._gc_started = 0.0

    def start_loop_monitor(self) -> None:
        """Measure the event loop's lag: a timer due every LOOP_PROBE_S; whatever held the loop
        (a long computation, a blocking call) makes it fire late by that much."""
        if self._monitor is None:
            self._monitor = asyncio.get_running_loop().create_task(self._probe(), name="kurultai-loop-lag")

    def stop_loop_monitor(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            self._monitor = None

    def time_gc(self, on: bool) -> None:
        """Time every collection from the app's start to its shutdown."""
        if on and self._gc_timer not in gc.callbacks:
            gc.callbacks.append(self._gc_timer)
        elif not on and self._gc_timer in gc.callbacks:
            gc.callbacks.remove(self._gc_timer)

    def _gc_timer(self, phase: str, info: dict[str, int]) -> None:
        """A collection holds the whole process (the loop included): time each one."""
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self._gc_children[info["generation"]].observe(time.perf_counter() - self._gc_started)

    async def _probe(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + LOOP_PROBE_S
            await asyncio.sleep(LOOP_PROBE_S)
            lag = max(0.0, loop.time() - due)
            self.loop_lag.observe(lag)
            if lag > self.max_lag:
                self.max_lag = lag
                self.loop_lag_max.set(lag)

    def watch_board(self, board: Any) -> None:
        """Report the tree size of every election the board holds."""
        self.registry.register(_TreeSizes(board))

    def wrap_publisher(self, publish: Callable[[list[EventRecord]], Awaitable[None]]) -> Callable[[list[EventRecord]], Awaitable[None]]:
        async def publish_and_measure(events: list[EventRecord]) -> None:
            await publish(events)
            now_ms = time.time() * 1000
            for event in events:
                self.event_delay.observe(max(0.0, (now_ms - event.ts_ms) / 1000))

        return publish_and_measure


@get("/metrics", include_in_schema=False, media_type="text/plain; version=0.0.4; charset=utf-8")
async def metrics_h(request: Request) -> Response[bytes]:
    metrics: Metrics = request.app.state.metrics
    return Response(generate_latest(metrics.registry), media_type="text/plain; version=0.0.4; charset=utf-8")
