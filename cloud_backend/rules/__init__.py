"""The local rules engine: the IoT SQL of the template's topic rules, and their actions."""
