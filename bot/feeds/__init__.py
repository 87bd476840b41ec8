"""Feed pipeline stages: fetch (HTTP only), parse (pure) and refresh (the orchestrator)."""
