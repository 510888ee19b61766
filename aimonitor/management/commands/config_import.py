"""``manage.py config_import FILE``: applies a ``config_export`` document in one transaction."""
from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from aimonitor.system.configuration import ConfigError, import_config


class Command(BaseCommand):
    help = ("Import a configuration written by config_export: rows are matched by natural key and "
            "updated, others created; tasks are restored stopped. All or nothing.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="the JSON document, or - for stdin")
        parser.add_argument("--dry-run", action="store_true", help="check and report, write nothing")

    def handle(self, *args, file, dry_run=False, **options):
        try:
            if file == "-":
                document = json.load(sys.stdin)
            else:
                with open(file, encoding="utf-8") as handle:
                    document = json.load(handle)
        except FileNotFoundError as exc:
            raise CommandError(f"no such file: {file}") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CommandError(f"{file} is not JSON: {exc}") from exc
        try:
            report = import_config(document, dry_run=dry_run)
        except ConfigError as exc:
            raise CommandError(f"nothing imported: {exc}") from exc
        for warning in report.warnings:
            self.stderr.write(f"warning: {warning}")
        prefix = "dry run, nothing written: " if dry_run else ""
        self.stdout.write(f"config_import: {prefix}{report.summary()}")
