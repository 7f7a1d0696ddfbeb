"""Django's PostgreSQL backend with a pool that recovers on time (see `base`)."""
