"""Message, presence and telemetry repositories: SQLite locally, DynamoDB in AWS (see `ports`)."""
