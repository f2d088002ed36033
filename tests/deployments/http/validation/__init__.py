"""Bad input over HTTP: 4xx naming the field before a job is accepted, error mapping, schemas, and the fuzzed API (schemathesis, WebSocket frames)."""
