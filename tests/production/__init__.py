"""Production: servers, workers, observability, configuration backup."""
