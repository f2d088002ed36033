"""Scripts for the GPU machine (tests with their GPU cases, then benchmarks; results in $OUT): umbrella runs here, the rest by role below."""
