"""edgeway: the CLI and composition root. Nothing imports this package but its console script."""
