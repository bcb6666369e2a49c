"""Packaging of the Lambda@Edge functions (size limits) and their deployment (us-east-1, versions,
the distribution's associations)."""
