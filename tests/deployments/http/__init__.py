"""Tests of deployments/http: the /v1 routes (on a real service and in process), schemas, errors, auth, docs pages, fuzzing."""
