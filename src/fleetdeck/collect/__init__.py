"""Collectors that read this host (psutil, /proc, NVML, Docker, systemd) into a Tyto snapshot.

This package imports nothing else of fleetdeck, so the agent can use it without the server.
"""
