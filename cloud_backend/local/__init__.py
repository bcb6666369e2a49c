"""The local stand-in's own parts: identity, Lambda host, policies from the template, composition."""
