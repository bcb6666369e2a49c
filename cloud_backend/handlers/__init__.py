"""Lambda handlers: chat, presence, stream, authorizer. Each module's `handler(event, context)` is what
the template's `Handler` names; they see only the repository and publisher interfaces (`backend`)."""
