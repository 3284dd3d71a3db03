"""HTTP API: one router module per resource; routes parse, authorise, call a service, reply."""
