"""Initial data for the face library: the two usual libraries, "staff" and "watchlist" (idempotent)."""
from .models import FaceLibrary

LIBRARIES = [("staff", "People expected on site.", False),
             ("watchlist", "People whose sighting raises a known-person alert.", True)]


def run(stdout) -> None:
    for name, description, watchlist in LIBRARIES:
        _, created = FaceLibrary.objects.get_or_create(
            name=name, defaults={"description": description, "is_watchlist": watchlist})
        if created:
            stdout.write(f"faces: created library {name!r}")
