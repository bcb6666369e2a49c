"""What a distribution is, read from the template: origins, behaviours and their Lambda@Edge triggers.
Both the local CloudFront (`emulator/`) and the deployer (`deploy/`) read it; it imports neither."""
