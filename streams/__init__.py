"""Cameras and their groups, the ZLMediaKit client and hooks, frame capture, monitoring tasks and the worker loop."""
