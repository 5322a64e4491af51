"""Who may do what: authentication, permissions, rate limits, CORS. Knows nothing of
routes or backends; the HTTP guard applies it."""
