"""Tests of deployments/grpc_api: the committed stubs, the servicer functions, every RPC through Serve's gRPC proxy."""
