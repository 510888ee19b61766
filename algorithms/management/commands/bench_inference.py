"""``manage.py bench_inference --algorithm ID --batch 1,8 --frames N``: per-frame latency and
throughput of an algorithm on this machine, and the engine's overhead over raw model time."""
from django.core.management.base import BaseCommand, CommandError

from algorithms import engine
from algorithms.benchmark import compare, format_table, sample_frames
from algorithms.models import Algorithm


def batch_list(value: str) -> list[int]:
    try:
        batches = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise CommandError(f"--batch takes sizes like 1,8; got {value!r}") from None
    if not batches or min(batches) < 1:
        raise CommandError("--batch sizes must be positive")
    return batches


class Command(BaseCommand):
    help = "Time an algorithm's inference: per-frame latency, throughput, engine overhead over raw predict."

    def add_arguments(self, parser):
        parser.add_argument("--algorithm", required=True, help="Algorithm id (or exact name).")
        parser.add_argument("--batch", default="1,8", help="Batch sizes to compare, e.g. 1,8.")
        parser.add_argument("--frames", type=int, default=32, help="Frames per measurement.")
        parser.add_argument("--rounds", type=int, default=1, help="Passes over the frames per measurement.")

    def handle(self, *args, **options):
        ref = options["algorithm"]
        lookup = {"pk": int(ref)} if ref.isdigit() else {"name": ref}
        algorithm = Algorithm.objects.filter(**lookup).first()
        if algorithm is None:
            raise CommandError(f"no algorithm {ref!r}")
        if options["frames"] < 1:
            raise CommandError("--frames must be at least 1")
        batches = batch_list(options["batch"])
        try:
            predictor = engine.get_predictor(algorithm)
        except engine.EngineError as exc:
            raise CommandError(f"cannot load {algorithm}: {exc}") from None
        frames = sample_frames(max(options["frames"], max(batches)))
        self.stdout.write(f"{algorithm} ({algorithm.format}) on {predictor.device}, imgsz {predictor.imgsz}, "
                          f"{len(frames)} frames of 640x480")
        rows, notes = compare(predictor, frames, batches, rounds=max(1, options["rounds"]))
        self.stdout.write(format_table(rows))
        for note in notes:
            self.stdout.write(note)
