"""What the recipes in `recipes/` run, each as `python3 -m greengrass_components.components.<name>`."""
