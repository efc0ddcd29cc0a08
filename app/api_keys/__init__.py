"""API keys: machine-to-machine access to one organisation, limited by scopes (API.md section 20)."""
