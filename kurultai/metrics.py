"""Prometheus metrics at `/metrics`: ballots accepted and rejected by code, websocket
connections, event delay and tree sizes. One registry per app (tests build many apps)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from litestar import Request, Response, get
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from realtime.outbox import EventRecord


class _TreeSizes(Collector):
    def __init__(self, board: Any) -> None:
        self.board = board

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("kurultai_tree_size", "Leaves on the ballot board of each election this process serves", labels=["election"])
        for eid, state in list(self.board.states.items()):
            family.add_metric([str(eid)], state.size)
        yield family


class Metrics:
    def __init__(self, connections: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        self.ballots_accepted = Counter(
            "kurultai_ballots_accepted", "Ballots accepted onto a board (a repeat of an accepted ballot counts as 'repeat')", ["kind"], registry=self.registry
        )
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
