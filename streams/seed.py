"""Initial data for streams."""


def run(stdout) -> None:
    # --- Monitoring demo: a looped clip of people, its stream, a stopped person-detection task -----
    from .demo import ensure_demo

    ensure_demo(stdout)
    # --- (monitoring demo end) -------------------------------------------------------------------
