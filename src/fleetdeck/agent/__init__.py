"""The agent that runs on each host. It imports only `collect/` and its own modules, never the
server's (FastAPI, SQLAlchemy): a test checks."""
