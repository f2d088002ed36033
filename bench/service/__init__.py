"""End-to-end service benchmarks: HTTP, gRPC, streams, models, the coordinator and chunk scheduler, job data, the live wire."""
