"""Answers itself, cacheably: a response generated at whichever request trigger runs it."""


def handler(event, context):
    cf = event["Records"][0]["cf"]
    return {
        "status": "200",
        "statusDescription": "OK",
        "headers": {
            "cache-control": [{"key": "Cache-Control", "value": "max-age=60"}],
            "content-type": [{"key": "Content-Type", "value": "text/plain"}],
        },
        "body": "generated at " + cf["config"]["eventType"],
    }
