"""What several parts of edgeway need and none of them owns.

The local core, the cloud stand-in, the local CloudFront and the operator CLI all read CloudFormation,
open SQLite files, keep device shadows, match MQTT topics, write JSON logs, call Lambda-style handlers
and build deterministic zips. Each of those lives here once. This package imports nothing of the
project (a unit test walks the imports to keep it so), so anything may import it, including the handler
zip that ships to Lambda.
"""
