"""Local deployments into a running core: merge, remove, configuration, rollback, persistence."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import sys

from tests.core_process import REPO, write_recipe
from tests.functional.test_core_lifecycle import RECIPE_HEAD, recipe
from tests.waiting import wait_for


def echo_config_recipe(name: str, out, version: str = "1.0.0", run_extra: str = "") -> str:
    """A component that writes its Greeting and Color to `out` and then keeps running."""
    return (
        RECIPE_HEAD.format(name=name, version=version)
        + f"""\
ComponentConfiguration:
  DefaultConfiguration:
    Greeting: hello
    Color: blue
    Limits: {{cpu: 1, memory: 64}}
Manifests:
  - Platform: {{os: linux}}
    Lifecycle:
      Run: >-
        echo '{version} {{configuration:/Greeting}} {{configuration:/Color}}
        {{configuration:/Limits}}' > {out};
        {run_extra} exec sleep 300
"""
    )


def test_merge_adds_a_component_and_leaves_the_others_running(tmp_path, start_core):
    recipes = tmp_path / "recipes"
    write_recipe(recipes, recipe("test.Steady", "Run: exec sleep 300"))
    core = start_core("--recipes", str(recipes))
    steady_pids = core.wait_state("test.Steady", "RUNNING")["pids"]

    more = tmp_path / "more"
    write_recipe(more, recipe("test.New", "Run: exec sleep 300"))
    answer = core.deploy(recipe_dir=more, merge={"test.New": "1.0.0"})
    assert answer["status"] == "SUCCEEDED", answer
    assert core.state("test.New") == "RUNNING"
    assert core.components()["test.Steady"]["pids"] == steady_pids


def test_configuration_merge_and_reset(tmp_path, start_core):
    recipes, out = tmp_path / "recipes", tmp_path / "config.txt"
    write_recipe(recipes, echo_config_recipe("test.Configured", out))
    core = start_core("--recipes", str(recipes))
    core.wait_state("test.Configured", "RUNNING")
    wait_for(lambda: out.exists() and out.read_text().strip(), what="first config")
    assert out.read_text().strip() == '1.0.0 hello blue {"cpu":1,"memory":64}'

    merge = {"test.Configured": {"MERGE": {"Greeting": "bonjour", "Limits": {"memory": 128}}}}
    assert core.deploy(update_config=merge)["status"] == "SUCCEEDED"
    wait_for(lambda: "bonjour" in out.read_text(), what="merged config")
    assert out.read_text().strip() == '1.0.0 bonjour blue {"cpu":1,"memory":128}'

    reset = {"test.Configured": {"RESET": ["/Greeting", "/Limits/memory"], "MERGE": {"Color": "red"}}}
    assert core.deploy(update_config=reset)["status"] == "SUCCEEDED"
    wait_for(lambda: "red" in out.read_text(), what="reset config")
    assert out.read_text().strip() == '1.0.0 hello red {"cpu":1,"memory":64}'

    whole = {"test.Configured": {"RESET": [""]}}
    assert core.deploy(update_config=whole)["status"] == "SUCCEEDED"
    wait_for(lambda: "blue" in out.read_text(), what="whole reset")
    assert out.read_text().strip() == '1.0.0 hello blue {"cpu":1,"memory":64}'


def test_unchanged_redeploy_touches_nothing(tmp_path, start_core):
    recipes = tmp_path / "recipes"
    write_recipe(recipes, recipe("test.Same", "Run: exec sleep 300"))
    core = start_core("--recipes", str(recipes))
    pids = core.wait_state("test.Same", "RUNNING")["pids"]
    assert core.deploy(recipe_dir=recipes, merge={"test.Same": "1.0.0"})["status"] == "SUCCEEDED"
    assert core.components()["test.Same"]["pids"] == pids


def test_remove_stops_the_component_and_its_processes(tmp_path, start_core):
    recipes = tmp_path / "recipes"
    write_recipe(recipes, recipe("test.Gone", "Run: exec sleep 300"))
    write_recipe(recipes, recipe("test.Stays", "Run: exec sleep 300"))
    core = start_core("--recipes", str(recipes))
    pid = core.wait_state("test.Gone", "RUNNING")["pids"][0]
    assert core.deploy(remove=["test.Gone"])["status"] == "SUCCEEDED"
    assert "test.Gone" not in core.components()
    assert core.state("test.Stays") == "RUNNING"
    wait_for(lambda: not _alive(pid), what="the removed component's process to end")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def test_upgrade_that_breaks_rolls_back_to_the_previous_version(tmp_path, start_core):
    recipes, out = tmp_path / "recipes", tmp_path / "version.txt"
    write_recipe(recipes, echo_config_recipe("test.App", out))
    core = start_core("--recipes", str(recipes))
    core.wait_state("test.App", "RUNNING")

    v2 = tmp_path / "v2"
    write_recipe(
        v2,
        RECIPE_HEAD.format(name="test.App", version="2.0.0")
        + """\
Manifests:
  - Lifecycle:
      Install: echo cannot install; exit 7
      Run: exec sleep 300
""",
    )
    answer = core.deploy(recipe_dir=v2, merge={"test.App": "2.0.0"})
    assert answer["status"] == "FAILED"
    assert "test.App is BROKEN: Install exited with code 7" in answer["reason"]
    assert "rolled back" in answer["reason"]
    app = core.wait_state("test.App", "RUNNING")
    assert app["version"] == "1.0.0"
    wait_for(lambda: out.exists() and out.read_text().startswith("1.0.0"), what="v1 to run again")
    records = core.deployments()
    assert [d["status"] for d in records] == ["SUCCEEDED", "FAILED"]
    assert records[-1]["reason"] == answer["reason"]


def test_invalid_recipe_fails_the_deployment_and_changes_nothing(tmp_path, start_core):
    recipes = tmp_path / "recipes"
    write_recipe(recipes, recipe("test.Fine", "Run: exec sleep 300"))
    core = start_core("--recipes", str(recipes))
    pids = core.wait_state("test.Fine", "RUNNING")["pids"]
    bad = tmp_path / "bad"
    write_recipe(
        bad,
        RECIPE_HEAD.format(name="test.Bad", version="1.0.0")
        + """\
Manifests:
  - Lifecycle:
      Run:
        Script: exec sleep 1
        Timeout: soon
""",
        name="bad.yaml",
    )
    answer = core.deploy(recipe_dir=bad, merge={"test.Bad": "1.0.0"})
    assert answer["status"] == "FAILED"
    assert (
        "bad.yaml: Manifests[0].Lifecycle.Run.Timeout: must be a positive number of seconds, got 'soon'"
        in answer["reason"]
    )
    assert set(core.components()) == {"test.Fine"}
    assert core.components()["test.Fine"]["pids"] == pids


def test_dependency_problems_fail_with_names(tmp_path, start_core):
    core = start_core()
    cycle = tmp_path / "cycle"
    write_recipe(
        cycle,
        recipe(
            "test.A", "Run: exit 0", extra="ComponentDependencies:\n  test.B:\n    VersionRequirement: '*'\n"
        ),
    )
    write_recipe(
        cycle,
        recipe(
            "test.B", "Run: exit 0", extra="ComponentDependencies:\n  test.A:\n    VersionRequirement: '*'\n"
        ),
    )
    answer = core.deploy(recipe_dir=cycle, merge={"test.A": "1.0.0"})
    assert answer["status"] == "FAILED"
    assert (
        "dependency cycle: test.A -> test.B -> test.A" in answer["reason"]
        or "dependency cycle: test.B -> test.A -> test.B" in answer["reason"]
    )

    old = tmp_path / "old"
    write_recipe(old, recipe("test.Lib", "Run: exit 0", version="1.4.0"))
    write_recipe(
        old,
        recipe(
            "test.User",
            "Run: exit 0",
            extra="ComponentDependencies:\n  test.Lib:\n    VersionRequirement: ^2.0.0\n",
        ),
    )
    answer = core.deploy(recipe_dir=old, merge={"test.User": "1.0.0"})
    assert answer["status"] == "FAILED"
    assert (
        "no version of test.Lib satisfies: test.User-1.0.0 requires ^2.0.0 (available versions: 1.4.0)"
        in answer["reason"]
    )
    assert core.components() == {}


def test_broken_component_is_fixed_by_deploying_it_again(tmp_path, start_core):
    recipes, flag = tmp_path / "recipes", tmp_path / "healthy"
    write_recipe(recipes, recipe("test.Flaky", f"Run: test -f {flag} || exit 1; exec sleep 300"))
    core = start_core("--recipes", str(recipes))
    core.wait_state("test.Flaky", "BROKEN")
    flag.write_text("")
    assert core.deploy(recipe_dir=recipes, merge={"test.Flaky": "1.0.0"})["status"] == "SUCCEEDED"
    assert core.state("test.Flaky") == "RUNNING"


def test_state_survives_a_core_restart(tmp_path, start_core):
    recipes, out = tmp_path / "recipes", tmp_path / "config.txt"
    write_recipe(recipes, echo_config_recipe("test.Kept", out))
    core = start_core("--recipes", str(recipes))
    core.wait_state("test.Kept", "RUNNING")
    assert (
        core.deploy(update_config={"test.Kept": {"MERGE": {"Greeting": "persisted"}}})["status"]
        == "SUCCEEDED"
    )
    assert core.stop() == 0
    out.unlink()

    again = start_core(root=core.root)  # no --recipes: only what was deployed
    kept = again.wait_state("test.Kept", "RUNNING")
    assert kept["version"] == "1.0.0"
    wait_for(lambda: out.exists() and out.read_text().strip(), what="restored component to run")
    assert out.read_text().startswith("1.0.0 persisted blue")
    assert [d["status"] for d in again.deployments()] == ["SUCCEEDED", "SUCCEEDED"]


def test_control_socket_is_owner_only_and_survives_bad_requests(tmp_path, start_core):
    core = start_core()
    assert stat.S_IMODE(core.paths.control_socket.stat().st_mode) == 0o600
    assert stat.S_IMODE(core.paths.root.stat().st_mode) == 0o700
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(core.paths.control_socket))
        reader = sock.makefile("rb")
        for line, expected in [
            (b"not json\n", "request is not JSON"),
            (b"[1, 2]\n", "must be a JSON object"),
            (b'{"op": "explode"}\n', "unknown op 'explode'"),
            (b'{"op": "deploy", "merge": {"x": "one"}}\n', "merge: x=one: not a semantic version"),
            (
                b'{"op": "deploy", "update_config": {"x": {"MERGE": [1]}}}\n',
                "update_config.x.MERGE: must be an object",
            ),
        ]:
            sock.sendall(line)
            answer = json.loads(reader.readline())
            assert answer["ok"] is False and expected in answer["error"], answer
        sock.sendall(b'{"op": "list"}\n')
        assert json.loads(reader.readline()) == {"ok": True, "components": []}
    assert core.process.poll() is None


def edgeway_core(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgeway", "core", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def test_cli_deploy_and_list(tmp_path, start_core):
    recipes = tmp_path / "recipes"
    write_recipe(recipes, recipe("test.Cli", "Run: exec sleep 300"))
    core = start_core()
    root = str(core.root)
    done = edgeway_core("deploy", "--root", root, "--recipe-dir", str(recipes), "--merge", "test.Cli=1.0.0")
    assert done.returncode == 0, done.stderr
    assert "SUCCEEDED" in done.stdout
    listed = edgeway_core("list", "--root", root, "--json")
    assert [(c["name"], c["state"]) for c in json.loads(listed.stdout)] == [("test.Cli", "RUNNING")]
    bad = edgeway_core("deploy", "--root", root, "--merge", "test.Cli")
    assert bad.returncode == 2 and "'test.Cli' is not NAME=VALUE" in bad.stderr
    failed = edgeway_core("deploy", "--root", root, "--remove", "test.Nothing")
    assert failed.returncode == 1
    assert "cannot remove test.Nothing: it is not deployed" in failed.stdout
    logs = edgeway_core("logs", "--root", root, "test.Cli", "-n", "5")
    assert logs.returncode == 0 and "state-change component=test.Cli old=STARTING new=RUNNING" in logs.stdout
    missing = edgeway_core("logs", "--root", root, "test.Nobody")
    assert missing.returncode == 1 and "no log for 'test.Nobody'" in missing.stderr


def test_removed_component_runs_its_uninstall_step(tmp_path, start_core):
    recipes, out = tmp_path / "recipes", tmp_path / "uninstalled"
    write_recipe(
        recipes,
        recipe(
            "test.Leaving",
            f"""
Run: exec sleep 300
Uninstall: echo bye >> {out}
""",
        ),
    )
    core = start_core("--recipes", str(recipes))
    core.wait_state("test.Leaving", "RUNNING")
    assert core.stop() == 0
    assert not out.exists()  # a core shutting down does not uninstall anything
    core = start_core(root=core.root)
    core.wait_state("test.Leaving", "RUNNING")
    assert core.deploy(remove=["test.Leaving"])["status"] == "SUCCEEDED"
    assert out.read_text() == "bye\n"


def test_a_configuration_only_change_is_delivered_as_an_update_without_a_restart(tmp_path, start_core):
    """The nucleus restarts a component only when its version, lifecycle, Setenv or dependencies
    change; a deployment that changes only its configuration sends a configuration update event."""
    from tests.ipc_components import Probe

    probe = Probe(
        tmp_path,
        "test.Listening",
        [
            {"op": "subscribe_to_configuration_update", "args": {"key_path": []}},
        ],
        config={"Level": "info", "Rate": 1},
    )
    core = start_core("--recipes", str(tmp_path / "recipes"), "--artifacts", str(tmp_path / "artifacts"))
    probe.step(0)
    pids = core.wait_state("test.Listening", "RUNNING")["pids"]
    answer = core.deploy(update_config={"test.Listening": {"MERGE": {"Level": "debug"}}})
    assert answer["status"] == "SUCCEEDED", answer
    (event,) = probe.wait_events(0, 1)
    assert event["configurationUpdateEvent"]["keyPath"] == ["Level"]
    assert core.components()["test.Listening"]["pids"] == pids, "a configuration-only change restarted it"
    assert core.states_logged("test.Listening").count("STARTING") == 1
