"""The health probes sanity checks use: Prometheus instant queries and HTTP GETs,
through the bot's one :class:`aiohttp.ClientSession`."""

from __future__ import annotations

import aiohttp

from integrations.probe_models import HttpAnswer, MetricSample, ProbeError
from integrations.prometheus import PrometheusClient, PrometheusQueryError, PrometheusUnavailable

MAX_BODY = 256 * 1024
"""Bytes of an HTTP check's body that are read (the rest is ignored)."""


class HttpProbes:
    """:class:`~integrations.probe_models.Probes` over an aiohttp session the caller owns."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session
        self._prometheus: dict[str, PrometheusClient] = {}

    async def query(self, base_url: str, promql: str, *, timeout: float) -> list[MetricSample]:
        """Evaluate ``promql`` now; :class:`ProbeError` if Prometheus cannot answer it."""
        client = self._prometheus.get(base_url)
        if client is None:
            client = self._prometheus[base_url] = PrometheusClient(self._session, base_url)
        try:
            samples = await client.instant_query(promql, timeout=timeout)
        except PrometheusUnavailable as exc:
            raise ProbeError("unavailable", exc.reason) from None
        except PrometheusQueryError as exc:
            raise ProbeError("query", f"Prometheus refused the query: {exc}") from None
        return [MetricSample(dict(s.labels), s.value) for s in samples]

    async def get(self, url: str, *, timeout: float) -> HttpAnswer:
        """GET ``url`` (no redirects followed beyond aiohttp's default) within ``timeout``."""
        try:
            async with self._session.get(
                url, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as response:
                raw = await response.content.read(MAX_BODY)
                return HttpAnswer(response.status, raw.decode("utf-8", errors="replace"))
        except TimeoutError:
            raise ProbeError("unavailable", f"{url} did not answer within {timeout:g}s") from None
        except aiohttp.ClientError as exc:
            raise ProbeError(
                "unavailable", f"cannot reach {url}: {exc or type(exc).__name__}"
            ) from None
