"""The gRPC API (rayquant.v1) via Serve's gRPC proxy: the ingress methods, the proxy's servicer functions, a client."""
