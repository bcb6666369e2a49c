"""Lambda@Edge handlers. Each module uses the standard library only and is zipped on its own, with an
optional `<module>.json` beside it that packaging embeds (Lambda@Edge has no environment variables)."""
