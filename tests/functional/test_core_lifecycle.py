"""The local core runs real component processes from recipes, with the nucleus's lifecycle."""

from __future__ import annotations

import json
import os
import signal
import stat
import zipfile
from pathlib import Path

from tests.core_process import write_recipe
from tests.waiting import wait_for

RECIPE_HEAD = """\
RecipeFormatVersion: '2020-01-25'
ComponentName: {name}
ComponentVersion: '{version}'
"""


def recipe(name: str, lifecycle: str, *, version: str = "1.0.0", extra: str = "") -> str:
    body = RECIPE_HEAD.format(name=name, version=version) + extra
    lines = "\n".join("      " + line for line in lifecycle.strip("\n").splitlines())
    return body + "Manifests:\n  - Platform:\n      os: linux\n    Lifecycle:\n" + lines + "\n"


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_dependencies_start_first_and_stop_last(tmp_path, start_core):
    out = tmp_path / "order.txt"
    recipes = tmp_path / "recipes"
    write_recipe(
        recipes,
        recipe(
            "test.Database",
            f"""
Startup:
  Script: echo start Database >> {out}
Shutdown:
  Script: echo stop Database >> {out}
""",
        ),
    )
    write_recipe(
        recipes,
        recipe(
            "test.Api",
            f"""
Run:
  Script: echo start Api >> {out}; exec sleep 300
Shutdown:
  Script: echo stop Api >> {out}
""",
            extra="ComponentDependencies:\n  test.Database:\n    VersionRequirement: '>=1.0.0 <2.0.0'\n",
        ),
    )
    write_recipe(
        recipes,
        recipe(
            "test.Frontend",
            f"""
Run:
  Script: echo start Frontend >> {out}; exec sleep 300
Shutdown:
  Script: echo stop Frontend >> {out}
""",
            extra="ComponentDependencies:\n  test.Api:\n    VersionRequirement: ^1.0.0\n",
        ),
    )
    core = start_core("--recipes", str(recipes))
    for name in ("test.Database", "test.Api", "test.Frontend"):
        core.wait_state(name, "RUNNING")
    wait_for(lambda: len(lines_of(out)) == 3, what="three starts")
    assert lines_of(out) == ["start Database", "start Api", "start Frontend"]

    assert core.stop(signal.SIGINT) == 0
    assert lines_of(out)[3:] == ["stop Frontend", "stop Api", "stop Database"]


def test_recipe_variables_and_component_environment(tmp_path, start_core):
    recipes, artifacts = tmp_path / "recipes", tmp_path / "artifacts"
    out = tmp_path / "vars.json"
    lib = artifacts / "test.Lib" / "2.1.0"
    lib.mkdir(parents=True)
    (lib / "tool.sh").write_text("#!/bin/sh\necho tool\n")
    with zipfile.ZipFile(lib / "bundle.zip", "w") as zf:
        zf.writestr("inner/data.txt", "zipped")
    write_recipe(
        recipes,
        RECIPE_HEAD.format(name="test.Lib", version="2.1.0")
        + """\
ComponentConfiguration:
  DefaultConfiguration:
    Endpoint:
      Port: 8883
Manifests:
  - Platform: {os: linux}
    Artifacts:
      - URI: s3://bucket/lib/tool.sh
        Permission: {Read: ALL, Execute: ALL}
      - URI: s3://bucket/lib/bundle.zip
        Unarchive: ZIP
    Lifecycle:
      Run: "true"
""",
    )
    script = (
        'python3 -c \'import json,os,sys; json.dump({"argv": sys.argv[1:], '
        '"env": {k: os.environ.get(k) for k in ("SVCUID", '
        '"AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT", '
        '"AWS_IOT_THING_NAME", "AWS_REGION", "GG_ROOT_CA_PATH", "STEP_VAR", "GLOBAL_VAR")}, '
        '"cwd": os.getcwd()}, open(sys.argv[1], "w"))\' '
        f"{out} '{{configuration:/Message}}' '{{configuration:/Nested}}' {{artifacts:path}} "
        "{work:path} {kernel:rootPath} {iot:thingName} '{test.Lib:configuration:/Endpoint/Port}' "
        "{test.Lib:artifacts:path} {test.Lib:artifacts:decompressedPath} '{test.Lib:work:path}' "
        "'${HOME:-x}' '{print $1}'"
    )
    write_recipe(
        recipes,
        RECIPE_HEAD.format(name="test.App", version="1.0.0")
        + f"""\
ComponentConfiguration:
  DefaultConfiguration:
    Message: hello world
    Nested: {{a: [1, 2]}}
ComponentDependencies:
  test.Lib:
    VersionRequirement: ~2.1.0
    DependencyType: SOFT
Manifests:
  - Platform: {{os: linux}}
    Lifecycle:
      Setenv: {{GLOBAL_VAR: from-lifecycle}}
      Run:
        Setenv: {{STEP_VAR: from-step}}
        Script: >-
          {script}
""",
    )
    core = start_core("--recipes", str(recipes), "--artifacts", str(artifacts), "--thing-name", "pi-17")
    core.wait_state("test.App", "FINISHED")
    result = json.loads(out.read_text())
    root = str(core.paths.root)
    assert result["argv"][1:] == [
        "hello world",
        '{"a":[1,2]}',
        f"{root}/packages/artifacts/test.App/1.0.0",
        f"{root}/work/test.App",
        root,
        "pi-17",
        "8883",
        f"{root}/packages/artifacts/test.Lib/2.1.0",
        f"{root}/packages/artifacts-unarchived/test.Lib/2.1.0",
        f"{root}/work/test.Lib",
        "${HOME:-x}",
        "{print $1}",
    ]
    assert result["cwd"] == f"{root}/work/test.App"
    env = result["env"]
    assert len(env["SVCUID"]) >= 32
    assert env["AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT"] == f"{root}/ipc.socket"
    assert env["AWS_IOT_THING_NAME"] == "pi-17"
    assert env["AWS_REGION"] == "us-east-1"
    assert env["GG_ROOT_CA_PATH"] == ""
    assert env["STEP_VAR"] == "from-step" and env["GLOBAL_VAR"] == "from-lifecycle"
    unzipped = core.paths.decompressed("test.Lib", "2.1.0") / "bundle" / "inner" / "data.txt"
    assert unzipped.read_text() == "zipped"
    tool = core.paths.artifacts("test.Lib", "2.1.0") / "tool.sh"
    assert stat.S_IMODE(tool.stat().st_mode) & 0o111 == 0o111


def test_each_component_gets_its_own_secret(tmp_path, start_core):
    recipes = tmp_path / "recipes"
    for name in ("test.One", "test.Two"):
        write_recipe(recipes, recipe(name, f"Run: echo $SVCUID > {tmp_path}/{name}.token"))
    core = start_core("--recipes", str(recipes))
    core.wait_state("test.One", "FINISHED")
    core.wait_state("test.Two", "FINISHED")
    one = (tmp_path / "test.One.token").read_text().strip()
    two = (tmp_path / "test.Two.token").read_text().strip()
    assert one and two and one != two


def test_install_timeout_errors_then_breaks(tmp_path, start_core):
    recipes = tmp_path / "recipes"
    tries = tmp_path / "tries"
    write_recipe(
        recipes,
        recipe(
            "test.SlowInstall",
            f"""
Install:
  Script: echo try >> {tries}; exec sleep 60
  Timeout: 0.5
Run: exec sleep 60
""",
        ),
    )
    core = start_core("--recipes", str(recipes), "--deployment-timeout", "30")
    deployment = core.wait_deployment_done()
    assert deployment["status"] == "FAILED"
    assert "test.SlowInstall is BROKEN: Install timed out after 0.5s" in deployment["reason"]
    assert len(lines_of(tries)) == 3
    states = core.states_logged("test.SlowInstall")
    assert states.count("ERRORED") == 2  # the third error goes straight to BROKEN
    assert states[:4] == ["ERRORED", "NEW", "ERRORED", "NEW"] and states[4] == "BROKEN"
    assert core.components() == {}  # the failed deployment rolled back to the empty set


def test_startup_timeout_fails_the_deployment(tmp_path, start_core):
    recipes = tmp_path / "recipes"
    write_recipe(
        recipes,
        recipe(
            "test.SlowStartup",
            """
Startup:
  Script: exec sleep 60
  Timeout: 0.5
""",
        ),
    )
    core = start_core("--recipes", str(recipes), "--deployment-timeout", "30")
    reason = core.wait_deployment_done()["reason"]
    assert "test.SlowStartup is BROKEN: Startup timed out after 0.5s" in reason
    assert core.states_logged("test.SlowStartup").count("ERRORED") == 2


def test_run_timeout_errors_after_the_deployment_and_breaks(tmp_path, start_core):
    recipes, runs = tmp_path / "recipes", tmp_path / "runs"
    write_recipe(
        recipes,
        recipe(
            "test.SlowRun",
            f"""
Run:
  Script: echo run >> {runs}; exec sleep 60
  Timeout: 0.5
""",
        ),
    )
    core = start_core("--recipes", str(recipes))
    assert core.wait_deployment_done()["status"] == "SUCCEEDED"  # it was RUNNING
    assert core.wait_state("test.SlowRun", "BROKEN")["reason"].startswith("Run timed out")
    assert len(lines_of(runs)) == 3


def test_skipif_exists_and_onpath_skip_their_steps(tmp_path, start_core):
    recipes = tmp_path / "recipes"
    ran = tmp_path / "ran"
    write_recipe(
        recipes,
        recipe(
            "test.Skips",
            f"""
Install:
  Skipif: exists marker
  Script: echo install >> {ran}
Run:
  Skipif: onpath sh
  Script: echo run >> {ran}
""",
        ),
    )
    write_recipe(
        recipes,
        recipe(
            "test.Runs",
            f"""
Install:
  Skipif: exists no-such-file
  Script: echo install >> {ran}.2
Run:
  Skipif: onpath no-such-program-anywhere
  Script: echo run >> {ran}.2
""",
        ),
    )
    work = tmp_path / "core" / "work" / "test.Skips"
    work.mkdir(parents=True)
    (work / "marker").write_text("")
    core = start_core("--recipes", str(recipes))
    assert core.wait_state("test.Skips", "FINISHED")["reason"] == "nothing to run"
    core.wait_state("test.Runs", "FINISHED")
    assert not ran.exists()
    assert lines_of(Path(f"{ran}.2")) == ["install", "run"]


def test_crash_goes_errored_recovers_and_breaks_after_three(tmp_path, start_core):
    recipes = tmp_path / "recipes"
    runs, recovers = tmp_path / "runs", tmp_path / "recovers"
    write_recipe(
        recipes,
        recipe(
            "test.Crashy",
            f"""
Run: echo run >> {runs}; exit 3
Recover: echo recover >> {recovers}
""",
        ),
    )
    core = start_core("--recipes", str(recipes), "--deployment-timeout", "30")
    # The deployment succeeded once the component was RUNNING; it crashes afterwards, so it stays BROKEN.
    assert "Run exited with code 3" in core.wait_state("test.Crashy", "BROKEN")["reason"]
    assert len(lines_of(runs)) == 3
    assert len(lines_of(recovers)) == 2
    states = core.states_logged("test.Crashy")
    assert states[:7] == ["INSTALLED", "STARTING", "RUNNING", "ERRORED", "STOPPING", "INSTALLED", "STARTING"]
    assert states[-1] == "BROKEN"


def test_a_run_that_exits_zero_is_finished_and_dependents_start(tmp_path, start_core):
    recipes = tmp_path / "recipes"
    write_recipe(recipes, recipe("test.Migrate", "Run: exit 0"))
    write_recipe(
        recipes,
        recipe(
            "test.Service",
            "Run: exec sleep 60",
            extra="ComponentDependencies:\n  test.Migrate:\n    VersionRequirement: '*'\n",
        ),
    )
    core = start_core("--recipes", str(recipes))
    core.wait_state("test.Migrate", "FINISHED")
    core.wait_state("test.Service", "RUNNING")


def test_hard_dependency_restart_restarts_dependents_but_not_soft(tmp_path, start_core):
    recipes = tmp_path / "recipes"
    write_recipe(recipes, recipe("test.Base", "Run: exec sleep 300"))
    write_recipe(
        recipes,
        recipe(
            "test.Hard",
            "Run: exec sleep 300",
            extra="ComponentDependencies:\n  test.Base:\n    VersionRequirement: ^1.0.0\n",
        ),
    )
    write_recipe(
        recipes,
        recipe(
            "test.Soft",
            "Run: exec sleep 300",
            extra="ComponentDependencies:\n  test.Base:\n"
            "    VersionRequirement: ^1.0.0\n    DependencyType: SOFT\n",
        ),
    )
    core = start_core("--recipes", str(recipes))
    before = {n: core.wait_state(n, "RUNNING")["pids"] for n in ("test.Base", "test.Hard", "test.Soft")}
    assert core.request("restart", name="test.Base")["ok"]
    wait_for(
        lambda: (
            core.components()["test.Base"]["pids"] not in ([], before["test.Base"])
            and core.state("test.Base") == "RUNNING"
        ),
        what="test.Base to restart",
    )
    wait_for(
        lambda: (
            core.components()["test.Hard"]["pids"] not in ([], before["test.Hard"])
            and core.state("test.Hard") == "RUNNING"
        ),
        what="test.Hard to restart",
    )
    assert core.components()["test.Soft"]["pids"] == before["test.Soft"]


def unique_markers(count: int) -> list[str]:
    """Sleep lengths no other test run on this machine uses (the tests find processes by them)."""
    import secrets

    return [f"100{n}.{secrets.randbelow(10**9):09d}" for n in range(count)]


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def test_no_process_outlives_the_core(tmp_path, start_core):
    recipes = tmp_path / "recipes"
    m = unique_markers(4)
    # A daemon left behind by Startup, a Run with a child, and a Run that ignores SIGTERM.
    write_recipe(
        recipes,
        recipe(
            "test.Daemon",
            f"""
Startup: sleep {m[0]} > /dev/null 2>&1 &
Shutdown:
  Script: "true"
  Timeout: 2
""",
        ),
    )
    write_recipe(recipes, recipe("test.Parent", f"Run: sleep {m[1]} & sleep {m[2]}; wait"))
    write_recipe(
        recipes,
        recipe(
            "test.Stubborn",
            f"""
Run: trap '' TERM; sleep {m[3]} & wait; sleep {m[3]}
Shutdown:
  Script: "true"
  Timeout: 1
""",
        ),
    )
    core = start_core("--recipes", str(recipes))
    for name in ("test.Daemon", "test.Parent", "test.Stubborn"):
        core.wait_state(name, "RUNNING")
    for marker in m:
        wait_for(lambda m=marker: _processes_with(m), what=f"sleep {marker} to run")
    assert core.stop() == 0
    for marker in m:
        assert _processes_with(marker) == [], f"sleep {marker} outlived the core"


def test_a_core_killed_with_sigkill_leaves_no_process_and_a_restart_runs_each_component_once(
    tmp_path, start_core
):
    recipes = tmp_path / "recipes"
    markers = unique_markers(4)
    write_recipe(recipes, recipe("test.Daemon", f"Startup: sleep {markers[0]} > /dev/null 2>&1 &"))
    write_recipe(recipes, recipe("test.Parent", f"Run: sleep {markers[1]} & sleep {markers[2]}; wait"))
    stubborn = f"Run: trap '' TERM; sleep {markers[3]} & wait; sleep {markers[3]}"
    write_recipe(recipes, recipe("test.Stubborn", stubborn))
    names = ("test.Daemon", "test.Parent", "test.Stubborn")
    core = start_core("--recipes", str(recipes))
    for name in names:
        core.wait_state(name, "RUNNING")
    for marker in markers:
        wait_for(lambda m=marker: _processes_with(m), what=f"sleep {marker} to run")
    core.stop(signal.SIGKILL)
    for marker in markers:  # the reaper stops them (TERM, then KILL for the stubborn one)
        wait_for(lambda m=marker: not _processes_with(m), 30, f"sleep {marker} to go with its core")

    again = start_core(root=core.root)  # the same root, no --recipes: the deployed set is restored
    for name in names:
        again.wait_state(name, "RUNNING")
    for marker in markers:
        wait_for(lambda m=marker: _processes_with(m), what=f"sleep {marker} to run again")
        assert len(_sleeps(marker)) == 1, f"sleep {marker} runs twice"
    assert again.stop() == 0
    for marker in markers:
        assert _processes_with(marker) == [], f"sleep {marker} outlived the restarted core"


def test_leftover_groups_of_a_killed_core_are_stopped_before_a_restart_starts_anything(tmp_path, start_core):
    """Even with the reaper gone too (both killed), the next core stops what the last one left."""
    recipes = tmp_path / "recipes"
    first, second = unique_markers(2)
    write_recipe(recipes, recipe("test.Parent", f"Run: sleep {first} & sleep {second}; wait"))
    core = start_core("--recipes", str(recipes))
    core.wait_state("test.Parent", "RUNNING")
    wait_for(lambda: _processes_with(second), what="the component to run")
    reapers = [p for p in _processes_with("runtime.reaper") if str(core.root) in _cmdline(p)]
    assert len(reapers) == 1
    os.kill(reapers[0], signal.SIGKILL)
    core.stop(signal.SIGKILL)
    assert _processes_with(second), "with no reaper, the component should still be running here"
    again = start_core(root=core.root)
    again.wait_state("test.Parent", "RUNNING")
    wait_for(lambda: len(_sleeps(second)) == 1, 30, "the component to run again")
    assert len(_sleeps(first)) == 1 and len(_sleeps(second)) == 1, "the component runs twice"
    assert "leftover-processes-stopped" in again.log_text()


def test_broken_is_kept_across_a_restart_until_deployed_again(tmp_path, start_core):
    recipes = tmp_path / "recipes"
    runs = tmp_path / "runs"
    write_recipe(recipes, recipe("test.Crashy", f"Run: echo run >> {runs}; exit 3"))
    core = start_core("--recipes", str(recipes), "--deployment-timeout", "30")
    core.wait_state("test.Crashy", "BROKEN")
    assert len(lines_of(runs)) == 3
    assert core.stop() == 0
    again = start_core(root=core.root)
    broken = again.wait_state("test.Crashy", "BROKEN")
    assert "Run exited with code 3" in broken["reason"]
    assert len(lines_of(runs)) == 3, "a BROKEN component ran again after the restart"
    answer = again.deploy(recipe_dir=recipes, merge={"test.Crashy": "1.0.0"})  # deployed again: it runs
    wait_for(lambda: len(lines_of(runs)) > 3, 30, "the redeployed component to run")
    assert answer["status"] in ("SUCCEEDED", "FAILED")


def test_dependencies_on_the_nucleus_and_its_plugins_are_met_by_the_core(tmp_path, start_core):
    """Public recipes declare the nucleus (and plugins such as the shadow manager) as dependencies."""
    recipes = tmp_path / "recipes"
    dependencies = (
        "ComponentDependencies:\n"
        "  aws.greengrass.Nucleus:\n    VersionRequirement: '>=2.5.0 <2.15.0'\n    DependencyType: SOFT\n"
        "  aws.greengrass.ShadowManager:\n    VersionRequirement: '^2.0.0'\n"
        "  aws.greengrass.Cli:\n    VersionRequirement: '>=2.0.0'\n    DependencyType: SOFT\n"
    )
    write_recipe(recipes, recipe("test.NeedsNucleus", "Run: exec sleep 300", extra=dependencies))
    core = start_core("--recipes", str(recipes))
    core.wait_state("test.NeedsNucleus", "RUNNING")
    components = core.components()
    assert components["aws.greengrass.Nucleus"]["version"] == "2.14.3"
    for name in ("aws.greengrass.Nucleus", "aws.greengrass.ShadowManager", "aws.greengrass.Cli"):
        assert components[name]["state"] == "RUNNING" and components[name]["pids"] == []
        assert components[name]["reason"] == "provided by the local core"
    write_recipe(
        recipes,
        recipe(
            "test.TooNew",
            "Run: exec sleep 300",
            extra="ComponentDependencies:\n  aws.greengrass.Nucleus:\n    VersionRequirement: '>=3.0.0'\n",
        ),
    )
    answer = core.deploy(recipe_dir=recipes, merge={"test.TooNew": "1.0.0"})
    assert answer["status"] == "FAILED"
    assert "requires aws.greengrass.Nucleus >=3.0.0" in answer["reason"] and "2.14.3" in answer["reason"]


def _sleeps(marker: str) -> list[int]:
    """The `sleep MARKER` processes themselves (not the shells whose script names them)."""
    return [pid for pid in _processes_with(marker) if _cmdline(pid).split() == ["sleep", marker]]


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_component_logs_and_core_log_are_written(tmp_path, start_core):
    recipes = tmp_path / "recipes"
    structured = '{"ts": "t", "level": "INFO", "logger": "x", "event": "component-ready", "port": 8}'
    write_recipe(
        recipes,
        recipe("test.Talker", f"Run: >-\n  echo to-stdout; echo to-stderr >&2; echo '{structured}' >&2"),
    )
    core = start_core("--recipes", str(recipes))
    core.wait_state("test.Talker", "FINISHED")
    entries = [json.loads(line) for line in core.log_text("test.Talker").splitlines()]
    assert {"event": "stdout", "message": "to-stdout"}.items() <= next(
        e for e in entries if e["event"] == "stdout"
    ).items()
    assert next(e for e in entries if e["event"] == "stderr")["level"] == "WARNING"
    ready = next(e for e in entries if e["event"] == "component-ready")  # its own level and fields
    assert ready["level"] == "INFO" and ready["port"] == 8 and ready["script"] == "Run"
    assert '"component": "test.Talker"' in core.log_text()
