"""Several parts of a deployment on this machine, for the tests, `make run-cluster` and the
benchmarks: a throwaway PostgreSQL server (`postgres.py`)."""
