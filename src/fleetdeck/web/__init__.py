"""The web dashboard: Jinja2 pages, htmx and uPlot served from fleetdeck itself."""
