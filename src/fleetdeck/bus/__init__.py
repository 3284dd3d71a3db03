"""The event bus: topics carrying pre-serialised bytes to subscribers."""
