"""Re-computes face vectors with the current face model, in batches, printing progress."""
from django.core.management.base import BaseCommand

from faces import services
from faces.engine import MODEL_NAME, MODEL_VERSION
from faces.models import Face


class Command(BaseCommand):
    help = ("Re-extract face feature vectors from the stored images with the current model "
            f"({MODEL_NAME} {MODEL_VERSION}). By default only faces made by another model; --all for every face.")

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="Re-extract every face, not only outdated ones.")
        parser.add_argument("--library", type=int, help="Only this library's faces.")
        parser.add_argument("--batch-size", type=int, default=None)

    def handle(self, *args, **options):
        faces = Face.objects.all()
        if options["library"]:
            faces = faces.filter(library_id=options["library"])

        def progress(done: int, total: int) -> None:
            self.stdout.write(f"re-extracted {done}/{total}")

        report = services.reextract(faces, only_outdated=not options["all"], batch_size=options["batch_size"],
                                    progress=progress)
        for failure in report.failed:
            self.stderr.write(f"face {failure['face_id']}: {failure['reason']}")
        self.stdout.write(self.style.SUCCESS(
            f"done: {report.updated} updated, {len(report.failed)} failed, {report.total} considered"))
