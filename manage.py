#!/usr/bin/env python
"""Django's command-line utility for AIMonitor."""
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aimonitor.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # A configuration mistake (e.g. no SECRET_KEY in production mode): say so in one line.
        sys.stderr.write(f"aimonitor: refusing to start: {exc}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
