"""Qt item models over the core's queries: thin adapters that fetch rows by id."""
