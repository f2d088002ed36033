"""The FastAPI ingress of the HTTP API: the /v1 routes, request and response schemas, error mapping, API-key auth."""
