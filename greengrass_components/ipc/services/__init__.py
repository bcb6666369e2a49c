"""One module per IPC service; each exposes `operations(...)` for the server's table."""
