"""A mistake: adds a disallowed header to the response."""


def handler(event, context):
    response = event["Records"][0]["cf"]["response"]
    response["headers"]["connection"] = [{"key": "Connection", "value": "close"}]
    return response
