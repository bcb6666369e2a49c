"""Package marker only: it lets `recipes/*.yaml` ship as package data that `edgeway up` finds.

The recipes are data, not code.
"""
