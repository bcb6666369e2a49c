"""The cloud chat/stream backend: template, handlers, rules, broker, stores, streams, web app."""
