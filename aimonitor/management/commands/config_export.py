"""``manage.py config_export``: the configuration (streams, algorithms, tasks, face libraries) as JSON."""
from __future__ import annotations

import json
import os

from django.core.management.base import BaseCommand

from aimonitor.system.configuration import export_config


class Command(BaseCommand):
    help = ("Export stream groups, streams, algorithms, monitoring tasks and face libraries as JSON "
            "(to stdout, or to --output with mode 0600: camera URLs may carry credentials).")

    def add_arguments(self, parser):
        parser.add_argument("--output", "-o", help="file to write (default: stdout)")
        parser.add_argument("--with-images", action="store_true", help="embed face images (base64)")
        parser.add_argument("--indent", type=int, default=2)

    def handle(self, *args, output=None, with_images=False, indent=2, **options):
        document = export_config(with_images=with_images)
        text = json.dumps(document, indent=indent or None, ensure_ascii=False)
        if not output:
            self.stdout.write(text)
            return
        # Created private: the document holds camera URLs, which often include passwords.
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        counts = ", ".join(f"{len(document[k])} {k}" for k in
                           ("stream_groups", "streams", "algorithms", "tasks", "face_libraries"))
        faces = sum(len(lib["faces"]) for lib in document["face_libraries"])
        self.stderr.write(f"config_export: wrote {output} ({counts}, {faces} faces"
                          f"{', with images' if with_images else ''})")
