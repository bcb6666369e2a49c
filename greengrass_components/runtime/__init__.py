"""The local Greengrass core: recipes, planning, lifecycle supervision and local deployments.

Pure parts (recipe model and loader, platform matching, variables, dependency
resolution, configuration updates, planning) do no I/O. Thin shells around them
run processes (`process_runner`, `lifecycle`, `supervisor`), keep state
(`state_store`), install artifacts (`artifacts`) and serve the control socket.
"""
