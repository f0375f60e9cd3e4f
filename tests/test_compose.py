"""docker-compose.yml, the Dockerfile and what they mount, checked without Docker (which cannot run here):
every file referenced exists, every volume is declared, the services find each other, and the receiver's and
Grafana's settings inside the containers are the repository's own, valid files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from otel_llmcost.config import load_settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
PROFILES = ("embedded", "server")


def active(profile: str) -> dict[str, dict]:
    """The services `docker compose --profile <profile> up` starts (no profile = always)."""
    return {name: s for name, s in SERVICES.items() if profile in s.get("profiles", [profile])}


def mounts(service: dict) -> dict[str, Path]:
    """Container path -> repository path of the service's bind mounts."""
    found = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("./"):
            found[target] = ROOT / source
    return found


def host_of(endpoint: str) -> str:
    return re.sub(r"^\w+://", "", endpoint).split(":")[0]


@pytest.mark.parametrize("profile", PROFILES)
def test_each_profile_runs_one_receiver_one_grafana_the_collector_and_the_demo(profile):
    services = active(profile)
    receivers = [s for s in services.values() if "serve" in s.get("command", [])]
    grafanas = [s for s in services.values() if s.get("image", "").startswith("grafana/grafana")]
    assert len(receivers) == 1 and len(grafanas) == 1
    assert {"collector", "demo"} <= services.keys()
    names = set(services) | {alias for s in services.values()
                             for alias in s.get("networks", {}).get("default", {}).get("aliases", [])}
    # The Collector forwards to the receiver, the demo sends to the Collector, Grafana reads the store.
    assert host_of(services["collector"]["environment"]["LLMCOST_ENDPOINT"]) in names
    demo_command = services["demo"]["command"]
    assert host_of(demo_command[demo_command.index("--endpoint") + 1]) == "collector"
    grafana_env = grafanas[0]["environment"]
    if profile == "server":
        assert "clickhouse" in services and grafana_env["LLMCOST_CLICKHOUSE_HOST"] == "clickhouse"
        command = receivers[0]["command"]
        assert host_of(command[command.index("--clickhouse") + 1].split("@")[1]) == "clickhouse"
    else:
        # The receiver's query port answers its own loopback: Grafana shares its network namespace.
        receiver_name = next(name for name, s in services.items() if s is receivers[0])
        assert grafanas[0]["network_mode"] == f"service:{receiver_name}"
        assert grafana_env["LLMCOST_QUERY_HOST"] == "127.0.0.1" and "3000:3000" in receivers[0]["ports"]
        assert "clickhouse" not in services
    for service in services.values():
        for dependency in service.get("depends_on", []):
            assert dependency in services, dependency


def test_every_mounted_file_exists_and_every_volume_is_declared():
    for name, service in SERVICES.items():
        for target, source in mounts(service).items():
            assert source.exists(), f"{name} mounts missing {source} at {target}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith("./"):
                assert source in COMPOSE["volumes"], f"{name}: volume {source} is not declared"


def test_dockerfile_copies_what_exists_and_runs_the_receiver():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for line in re.findall(r"^COPY (.+)$", dockerfile, re.M):
        *sources, _ = line.split()
        for source in sources:
            assert (ROOT / source).exists(), source
    # the embedded store is the image's default (docker/receiver.yaml names no server), and it runs the demo
    assert '"otel-llmcost"' in dockerfile and "'.[demo,embedded]'" in dockerfile


def test_the_receiver_settings_in_the_container_are_valid(tmp_path):
    service = SERVICES["otel-llmcost"]
    files = mounts(service)
    config = yaml.safe_load(files["/etc/otel-llmcost/receiver.yaml"].read_text())
    assert config["alerts"]["file"] in files  # the alerts file it names is mounted
    config["alerts"]["file"] = str(files[config["alerts"]["file"]])
    local = tmp_path / "receiver.yaml"
    local.write_text(yaml.safe_dump(config))
    settings = load_settings(str(local))
    assert (settings.receiver.grpc_host, settings.receiver.grpc_port) == ("0.0.0.0", 4317)
    assert host_of(SERVICES["collector"]["environment"]["LLMCOST_ENDPOINT"]) == "otel-llmcost"
    assert SERVICES["collector"]["environment"]["LLMCOST_ENDPOINT"].endswith(f":{settings.receiver.grpc_port}")


@pytest.mark.parametrize(("name", "datasource"), [("grafana", "embedded.yml"), ("grafana-server", "clickhouse.yml")])
def test_grafana_mounts_our_provisioning_where_it_reads_it(name, datasource):
    service = SERVICES[name]
    files = mounts(service)
    assert "grafana-clickhouse-datasource" in service["environment"]["GF_PLUGINS_PREINSTALL"]
    # One data source file (both carry the uid llmcost-clickhouse), all dashboards, all alerting.
    assert [source for target, source in files.items() if "/datasources" in target] == [
        ROOT / "grafana/provisioning/datasources" / datasource]
    for kind in ("dashboards", "alerting"):
        assert files[f"/etc/grafana/provisioning/{kind}"] == ROOT / "grafana/provisioning" / kind
    (provider,) = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/llmcost.yml").read_text())["providers"]
    assert files[provider["options"]["path"]] == ROOT / "grafana/dashboards"
    # Every ${VAR} the mounted provisioning files read is set for this Grafana.
    wanted = set()
    for source in files.values():
        for path in [source] if source.is_file() else source.rglob("*.y*ml"):
            text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
            wanted |= set(re.findall(r"\$\{(\w+)\}", text))
    assert wanted and wanted <= service["environment"].keys()


def test_the_collector_config_receives_otlp_and_forwards_it_to_the_receiver():
    service = SERVICES["collector"]
    config = yaml.safe_load(mounts(service)["/etc/otelcol-contrib/config.yaml"].read_text())
    [pipeline] = config["service"]["pipelines"].values()
    assert pipeline["receivers"] == ["otlp"]
    [exporter] = pipeline["exporters"]
    assert "LLMCOST_ENDPOINT" in config["exporters"][exporter]["endpoint"]
    assert config["exporters"][exporter]["sending_queue"]["batch"]  # batched before it leaves
    published = {port.split(":")[0] for port in service["ports"]}
    assert published == {"4317", "4318"}


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule, as far as our file uses it: the last pattern matching the path or one of
    its parent directories decides; `!` re-includes; `**/` matches at any depth."""
    from fnmatch import fnmatchcase

    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for pattern in patterns:
        negated, glob = pattern.startswith("!"), pattern.lstrip("!").rstrip("/")
        if glob.startswith("**/"):
            matched = any(fnmatchcase(part, glob[3:]) for part in parts)
        else:
            matched = any(fnmatchcase(prefix, glob) for prefix in prefixes if prefix.count("/") == glob.count("/"))
        if matched:
            ignored = not negated
    return ignored


def test_the_build_context_holds_only_what_the_dockerfile_copies():
    import subprocess

    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    copied = [source for line in re.findall(r"^COPY (.+)$", (ROOT / "Dockerfile").read_text(), re.M)
              for source in line.split()[:-1]]
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for path in files:
        wanted = any(path == source.rstrip("/") or path.startswith(source.rstrip("/") + "/") for source in copied)
        assert _ignored(path, patterns) != wanted, path
    for path in (".venv/bin/python", "llmcost-data/chdb/store/x", "src/otel_llmcost/__pycache__/a.pyc",
                 "src/otel_llmcost.egg-info/PKG-INFO", "tests/test_compose.py", "bench/query_speed.py"):
        assert _ignored(path, patterns), path
