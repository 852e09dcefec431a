"""``finesim serve``: an HTTP API (OpenAI-compatible embeddings, similarity, faceted search)
with micro-batching, limits, an optional API key, Prometheus metrics and a search page."""
