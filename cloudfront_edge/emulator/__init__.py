"""Local CloudFront: builds Lambda@Edge events as CloudFront does, validates what functions return with
CloudFront's rules, runs the four triggers around a cache, and proxies real HTTP to the origin."""
