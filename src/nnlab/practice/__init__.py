"""Course 3 and the practical parts of Course 2: diagnosis, error analysis, plots."""
