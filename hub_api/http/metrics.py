"""Request counts and latencies in the Prometheus text format (version 0.0.4), kept per
process: route template (never the concrete path, which could carry ids), method and
status class."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count: dict[tuple[str, str, str], int] = defaultdict(int)
        self._buckets: dict[tuple[str, str], list[int]] = {}
        self._sum: dict[tuple[str, str], float] = defaultdict(float)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        with self._lock:
            self._count[(route, method, f"{status // 100}xx")] += 1
            key = (route, method)
            buckets = self._buckets.setdefault(key, [0] * len(BUCKETS))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    buckets[i] += 1
            self._sum[key] += seconds

    def exposition(self) -> str:
        lines = [
            "# HELP lmis_hub_http_requests_total Requests served, by route, method and status.",
            "# TYPE lmis_hub_http_requests_total counter",
        ]
        with self._lock:
            for (route, method, status), n in sorted(self._count.items()):
                lines.append(
                    f'lmis_hub_http_requests_total{{route="{route}",method="{method}",'
                    f'status="{status}"}} {n}'
                )
            lines += [
                "# HELP lmis_hub_http_request_seconds Time to serve a request.",
                "# TYPE lmis_hub_http_request_seconds histogram",
            ]
            for (route, method), buckets in sorted(self._buckets.items()):
                labels = f'route="{route}",method="{method}"'
                for bound, n in zip(BUCKETS, buckets, strict=True):
                    lines.append(
                        f'lmis_hub_http_request_seconds_bucket{{{labels},le="{bound}"}} {n}'
                    )
                total = sum(c for (r, m, _), c in self._count.items() if (r, m) == (route, method))
                lines.append(f'lmis_hub_http_request_seconds_bucket{{{labels},le="+Inf"}} {total}')
                spent = self._sum[(route, method)]
                lines.append(f"lmis_hub_http_request_seconds_sum{{{labels}}} {spent:.6f}")
                lines.append(f"lmis_hub_http_request_seconds_count{{{labels}}} {total}")
        return "\n".join(lines) + "\n"


def install(app: FastAPI, metrics: Metrics) -> None:
    app.state.metrics = metrics

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        metrics.observe(
            template, request.method, response.status_code, time.perf_counter() - started
        )
        return response
