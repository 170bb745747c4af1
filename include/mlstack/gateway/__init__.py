"""The serving gateway: champion and challenger of every use case behind one HTTP API.

``create_app`` (in :mod:`mlstack.gateway.app`) builds the FastAPI app; ``mlstack gateway
serve`` runs it under uvicorn. The pieces: :mod:`.core.config` (settings),
:mod:`.models` (a cache that loads models by alias and swaps them atomically, and the
scorer that checks records against the signature), :mod:`.logger` (durable batch logging
with a disk spool), :mod:`.metrics` (Prometheus text format) and :mod:`.api` (routes).
"""
