"""A mistake: raises."""


def handler(event, context):
    raise KeyError("cookie")
