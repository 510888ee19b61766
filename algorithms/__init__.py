"""Algorithm records, their weight files, and the inference engine."""
