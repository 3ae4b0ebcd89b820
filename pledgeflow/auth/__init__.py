"""Who may do what, and how often: signed pledge tokens, reply-address tokens, staff keys and sessions,
Idempotency-Keys, rate limits."""
