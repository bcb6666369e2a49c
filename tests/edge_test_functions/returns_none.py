"""A mistake: forgets to return."""


def handler(event, context):
    event["Records"][0]["cf"]["request"]["uri"] = "/index.html"
