"""The operator's side of components: build their artifacts (and, later, publish and deploy them)."""
