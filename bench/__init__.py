"""Side-by-side benchmarks of tritonlite and the reference Triton: see bench/README.md."""
