"""The local stand-in for Kinesis: a durable log in SQLite and the poller that feeds the stream handler."""
