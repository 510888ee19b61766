"""Alerts, their snapshots, handling, statistics, export, and live push to browsers."""
