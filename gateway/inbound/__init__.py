"""The HTTP edges that receive changes: verify, store, enqueue; nothing else on the request path."""
