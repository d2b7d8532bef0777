"""The audit log: every release and every refusal, append-only and hash-chained."""
