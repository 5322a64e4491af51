"""Reaching the backends: services spread over instances, a pool per instance, one
connection per call in flight, balancing and DNS discovery. Knows no service by name and
nothing of HTTP (headers come down as arguments)."""
