"""The step engine: ordered, idempotent check/act steps with resume and dry-run, and waiting with progress."""
