"""What `GET /metrics` serves (Prometheus text, prometheus-client), one registry per watch."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily

from reconciler.tim.client import CallStats

PREFIX = "reconciler_watch"

disable_created_metrics()  # the *_created series say nothing a scraper needs here


class _ApiCalls:
    """API calls by API, read from the client's own counters when scraped."""

    def __init__(self, stats: Callable[[], CallStats | None]) -> None:
        self._stats = stats

    def collect(self):
        family = CounterMetricFamily(
            f"{PREFIX}_api_calls", "REST API calls made, by API", labels=["api"]
        )
        stats = self._stats()
        for api, n in sorted((stats.calls if stats else {}).items()):
            family.add_metric([api], n)
        yield family
        for name, doc, value in (
            ("api_requests", "HTTP requests sent (calls and their retries)", "requests"),
            ("api_retries", "Calls sent again after a transient error", "retries"),
            (
                "api_hedges",
                "Second requests of a read that had not answered soon (hedged: a control read "
                "after 0.5 s, any other after a delay learnt from recent reads)",
                "hedges",
            ),
            ("api_failures", "Calls that failed after the client's retries", "failures"),
        ):
            counter = CounterMetricFamily(f"{PREFIX}_{name}", doc)
            counter.add_metric([], getattr(stats, value) if stats else 0)
            yield counter


class Metrics:
    def __init__(self, stats: Callable[[], CallStats | None], depth: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.callbacks = Counter(
            f"{PREFIX}_callbacks",
            "Callbacks received, by command (the group commands watch acts on, else other) and "
            "outcome",
            ["command", "outcome"],
            registry=r,
        )
        self.refusals = Counter(
            f"{PREFIX}_refusals",
            "Callbacks refused (bad Sign, stale RequestTime, replay, wrong SdkAppid, too large, "
            "slow) and reconciles refused by a guard",
            ["reason"],
            registry=r,
        )
        self.reconciles = Counter(
            f"{PREFIX}_reconciles",
            "Reconciles, by trigger and outcome",
            ["trigger", "outcome"],
            registry=r,
        )
        self.drift_found = Counter(
            f"{PREFIX}_drift_found", "Groups found to differ from the config", registry=r
        )
        self.drift_fixed = Counter(
            f"{PREFIX}_drift_fixed", "Groups made to match the config again", registry=r
        )
        self.marks_set = Counter(
            f"{PREFIX}_marks_set", "Members whose declared marks were set", registry=r
        )
        self.backoffs = Counter(
            f"{PREFIX}_backoffs",
            "Backoffs started after a failure, by scope (a group, or the whole app)",
            ["scope"],
            registry=r,
        )
        self.reloads = Counter(
            f"{PREFIX}_config_reloads", "Config reloads, by outcome", ["outcome"], registry=r
        )
        self.latency = Histogram(
            f"{PREFIX}_event_to_converged_seconds",
            "From a callback's arrival to its group matching the config (marks set)",
            buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0),
            registry=r,
        )
        self.superseded = Gauge(
            f"{PREFIX}_superseded",
            "1 while a newer config revision than this watch's was applied: it does not write",
            registry=r,
        )
        self.config_info = Gauge(
            f"{PREFIX}_config_info",
            "1, labelled with the config revision this watch runs (a git commit, else "
            "sha256:<config digest>), the one it records for the app",
            ["revision"],
            registry=r,
        )
        self.config_refused = Gauge(
            f"{PREFIX}_config_refused",
            "1 while the config files hold an invalid config: the last good one runs on",
            registry=r,
        )
        self.notifications = Counter(
            f"{PREFIX}_notifications",
            "Notification messages, by target (webhook, slack) and outcome (sent, failed)",
            ["target", "outcome"],
            registry=r,
        )
        queue = Gauge(
            f"{PREFIX}_queue_depth", "Groups and marks waiting to be reconciled", registry=r
        )
        queue.set_function(depth)
        r.register(_ApiCalls(stats))

    def text(self) -> bytes:
        return generate_latest(self.registry)
