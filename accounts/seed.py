"""Initial data for accounts: the built-in roles and the first superuser."""
import os

from . import services


def run(stdout) -> None:
    created = services.seed_roles()
    if created:
        stdout.write(f"accounts: created {created} role(s)")
    user, generated = services.ensure_superuser(
        os.environ.get("AIMONITOR_ADMIN_USERNAME"), os.environ.get("AIMONITOR_ADMIN_PASSWORD"),
        os.environ.get("AIMONITOR_ADMIN_EMAIL"),
    )
    if user is not None:
        stdout.write(f"accounts: created superuser {user.username!r}")
        if generated:
            stdout.write(f"accounts: generated password for {user.username!r} (shown once): {generated}")
