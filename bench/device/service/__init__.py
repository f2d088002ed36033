"""GPU-machine scripts for the service: actors, gRPC and HTTP, the live path, job data, scheduling, soaks."""
