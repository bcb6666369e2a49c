"""Lambda@Edge functions, the local CloudFront emulator, and their packaging and deployment."""
