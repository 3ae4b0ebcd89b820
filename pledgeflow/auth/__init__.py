"""Who may do what: signed pledge tokens, reply-address tokens and staff keys."""
