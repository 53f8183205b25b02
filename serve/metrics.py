"""Prometheus metrics of one app instance (its own registry, so apps in tests do not collide)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Metrics:
    registry: object
    requests: object  # counter by endpoint and status
    latency: object  # histogram of request seconds by endpoint
    inference: object  # histogram of model seconds by endpoint
    rate_limited: object  # counter of requests refused by the rate limit

    @classmethod
    def create(cls) -> Metrics:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        reg = CollectorRegistry()
        buckets = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60)
        return cls(
            reg,
            Counter("lcpfn_requests_total", "HTTP requests", ["endpoint", "status"], registry=reg),
            Histogram("lcpfn_request_seconds", "HTTP request latency", ["endpoint"], buckets=buckets, registry=reg),
            Histogram("lcpfn_inference_seconds", "Model inference time", ["endpoint"], buckets=buckets, registry=reg),
            Counter("lcpfn_rate_limited_total", "Requests refused by the rate limit (429)", registry=reg),
        )
