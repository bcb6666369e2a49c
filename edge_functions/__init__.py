"""Lambda-style handlers, `handler(event, context)`, for sensors and vision.

Imports nothing of the project.
"""
