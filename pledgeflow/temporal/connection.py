"""Connecting to Temporal with Pledgeflow's data converter and the settings' address, namespace and TLS."""

from __future__ import annotations

from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from pledgeflow.core.settings import Settings


def worker_runtime(settings: Settings) -> Runtime | None:
    """The worker's SDK runtime with its Prometheus endpoint, when ``worker_metrics_port`` is set: counters such
    as ``temporal_activity_execution_failed`` by ``activity_type`` show a projection or an email that keeps
    failing while Temporal retries it."""
    if settings.worker_metrics_port is None:
        return None
    address = f"{settings.metrics_host}:{settings.worker_metrics_port}"
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    tls: TLSConfig | bool = settings.temporal_tls
    if settings.temporal_tls_cert and settings.temporal_tls_key:
        tls = TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes(),
            client_private_key=settings.temporal_tls_key.read_bytes(),
        )
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        tls=tls,
        api_key=settings.temporal_api_key,
        runtime=runtime,
    )
