"""Seeds initial data, app by app (``<app>/seed.py`` with ``run(stdout)``). Safe to run repeatedly."""
from importlib import import_module

from django.conf import settings
from django.core.management.base import BaseCommand

SEED_APPS = ("accounts", "algorithms", "streams", "alerts", "faces")


class Command(BaseCommand):
    help = "Create storage folders and seed initial data (roles, the first admin, demo algorithm and camera)."

    def handle(self, *args, **options):
        for folder in settings.STORAGE_DIRS:
            folder.mkdir(parents=True, exist_ok=True)
        for app in SEED_APPS:
            try:
                module = import_module(f"{app}.seed")
            except ModuleNotFoundError as exc:
                if exc.name != f"{app}.seed":
                    raise
                continue
            module.run(self.stdout)
        self.stdout.write(self.style.SUCCESS("seed: done"))
