"""The server's side of the fleet: its hosts, starting with the server's own (`local`)."""
