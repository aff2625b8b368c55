#!/usr/bin/python3
"""Validates deploy/ without a cluster (none is reachable from these machines).

1. yamllint on every YAML file.
2. Renders deploy/base and deploy/overlays/* with a small kustomize of its own (the features the
   manifests use: resources, labels with includeSelectors, namespace, images, replicas, strategic
   merge patches incl. $patch: delete and null deletions). When `kubectl kustomize` works on this
   machine, its output must equal ours (so the renderer is checked against the real one).
3. Checks what the rendered objects must say for beit-server to run well: API versions and kinds;
   native gRPC probes on the numeric gRPC port; requests = limits in whole CPUs and
   OMP_NUM_THREADS equal to the CPU limit; non-root, read-only root filesystem; a grace period
   longer than the server's drain plus the preStop pause; config.json keys are real beit-server
   flags; Services, PDB, HPA and ServiceMonitor select the pods / target the Deployment; the
   prometheus-adapter rule and the HPA agree on the metric; the KServe runtime's port is h2c and its
   REST example routes to --http-port as http1.
Usage: check_manifests.py REPO_ROOT
"""
import copy
import json
import os
import re
import shutil
import subprocess
import sys

import yaml

ERRORS = []


def fail(message):
    ERRORS.append(message)


# ---------------------------------------------------------------- rendering
NAMESPACED = {"ConfigMap", "PersistentVolumeClaim", "Deployment", "Service", "HorizontalPodAutoscaler",
              "PodDisruptionBudget", "ServiceMonitor"}


def merge(base, patch):
    """Strategic merge as Kubernetes does it for these fields: maps merge, null deletes, lists of
    named maps merge by name, other lists are replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = merge(out[key], value)
            else:
                out[key] = value
        return out
    if isinstance(base, list) and isinstance(patch, list) and all(isinstance(x, dict) and "name" in x for x in base + patch):
        out = [copy.deepcopy(x) for x in base]
        for item in patch:
            match = next((i for i, x in enumerate(out) if x["name"] == item["name"]), None)
            if match is None:
                out.append(item)
            else:
                out[match] = merge(out[match], item)
        return out
    return patch


def pod_spec(doc):
    return doc.get("spec", {}).get("template", {}).get("spec", {}) if doc["kind"] == "Deployment" else None


def render(directory):
    k = yaml.safe_load(open(os.path.join(directory, "kustomization.yaml")))
    docs = []
    for resource in k.get("resources", []):
        path = os.path.normpath(os.path.join(directory, resource))
        if os.path.isdir(path):
            docs += render(path)
        else:
            docs += [d for d in yaml.safe_load_all(open(path)) if d]
    for entry in k.get("labels", []):
        for doc in docs:
            doc.setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])
            if not entry.get("includeSelectors"):
                continue
            spec = doc.get("spec", {})
            if doc["kind"] in ("Deployment", "PodDisruptionBudget"):
                spec.setdefault("selector", {}).setdefault("matchLabels", {}).update(entry["pairs"])
            if doc["kind"] == "Deployment":
                spec["template"].setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])
            if doc["kind"] == "Service":
                spec.setdefault("selector", {}).update(entry["pairs"])
    for patch_entry in k.get("patches", []):
        for patch in yaml.safe_load_all(open(os.path.join(directory, patch_entry["path"]))):
            key = (patch["kind"], patch["metadata"]["name"])
            index = next((i for i, d in enumerate(docs) if (d["kind"], d["metadata"]["name"]) == key), None)
            if index is None:
                fail(f"{directory}: patch {patch_entry['path']} matches no resource {key}")
            elif patch.get("$patch") == "delete":
                del docs[index]
            else:
                docs[index] = merge(docs[index], patch)
    if "namespace" in k:
        for doc in docs:
            if doc["kind"] in NAMESPACED:
                doc["metadata"]["namespace"] = k["namespace"]
    for image in k.get("images", []):
        for doc in docs:
            spec = pod_spec(doc)
            for c in (spec or {}).get("containers", []) + (spec or {}).get("initContainers", []):
                name, _, tag = c["image"].partition(":")
                if name == image["name"]:
                    c["image"] = image.get("newName", name) + ":" + image.get("newTag", tag)
    for replicas in k.get("replicas", []):
        for doc in docs:
            if doc["kind"] == "Deployment" and doc["metadata"]["name"] == replicas["name"]:
                doc["spec"]["replicas"] = replicas["count"]
    return docs


def normalized(docs):
    def norm(x):
        if isinstance(x, dict):
            return {k: norm(v) for k, v in x.items()}
        if isinstance(x, list):
            items = [norm(v) for v in x]
            if all(isinstance(v, dict) and "name" in v for v in items):
                items.sort(key=lambda v: v["name"])
            return items
        return x
    return sorted((json.dumps(norm(d), sort_keys=True) for d in docs))


# ---------------------------------------------------------------- checks
API = {"Namespace": "v1", "ConfigMap": "v1", "PersistentVolumeClaim": "v1", "Service": "v1", "Deployment": "apps/v1",
       "HorizontalPodAutoscaler": "autoscaling/v2", "PodDisruptionBudget": "policy/v1",
       "ServiceMonitor": "monitoring.coreos.com/v1"}


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def cpu_count(quantity):
    text = str(quantity)
    if not re.fullmatch(r"\d+", text):
        fail(f"CPU {text}: use whole CPUs (oneDNN threads pin best to whole cores)")
        return None
    return int(text)


def check(name, docs, root):
    errors_before = len(ERRORS)
    by_kind = {}
    for d in docs:
        if API.get(d.get("kind")) != d.get("apiVersion"):
            fail(f"{name}: {d.get('kind')} {d.get('metadata', {}).get('name')}: apiVersion {d.get('apiVersion')}, "
                 f"expected {API.get(d.get('kind'))}")
        by_kind.setdefault(d["kind"], []).append(d)
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap"):
        if kind not in by_kind:
            fail(f"{name}: no {kind}")
    if len(ERRORS) > errors_before:
        return
    options = open(os.path.join(root, "server", "server_options.h")).read()
    grpc_port = int(re.search(r"int port = (\d+);", options).group(1))
    metrics_port = int(re.search(r"int metrics_port = (\d+);", options).group(1))
    http_port = int(re.search(r"int http_port = (\d+);", options).group(1))
    usage = open(os.path.join(root, "server", "server_options.cc")).read()

    deployment = by_kind["Deployment"][0]
    spec = pod_spec(deployment)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    if not selects(deployment["spec"]["selector"]["matchLabels"], pod_labels):
        fail(f"{name}: the Deployment's selector does not match its pods")
    server = next((c for c in spec["containers"] if c["name"] == "beit-server"), None)
    if server is None:
        fail(f"{name}: no beit-server container")
        return
    ports = {p["name"]: p["containerPort"] for p in server.get("ports", [])}
    if ports.get("grpc") != grpc_port or ports.get("metrics") != metrics_port or ports.get("http") != http_port:
        fail(f"{name}: container ports {ports}, expected grpc {grpc_port}, metrics {metrics_port}, http {http_port}")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        # A native gRPC probe on grpc.health, or an HTTP probe on the Open Inference Protocol's
        # health endpoint (live for liveness, ready otherwise), on numeric ports.
        p = server.get(probe, {})
        path = "/v2/health/live" if probe == "livenessProbe" else "/v2/health/ready"
        grpc_ok = set(p) & {"grpc", "httpGet"} == {"grpc"} and p["grpc"].get("port") == grpc_port
        http_ok = (set(p) & {"grpc", "httpGet"} == {"httpGet"} and p["httpGet"].get("port") == http_port
                   and p["httpGet"].get("path") == path)
        if not (grpc_ok or http_ok):
            fail(f"{name}: {probe} must be a native gRPC probe on port {grpc_port} or an HTTP GET of {path} on "
                 f"port {http_port}, got {p}")
    resources = server.get("resources", {})
    if resources.get("requests") != resources.get("limits"):
        fail(f"{name}: resources requests must equal limits (Guaranteed QoS)")
    cpus = cpu_count(resources.get("limits", {}).get("cpu", "0"))
    env = {e["name"]: e.get("value") for e in server.get("env", [])}
    if cpus is not None and env.get("OMP_NUM_THREADS") != str(cpus):
        fail(f"{name}: OMP_NUM_THREADS {env.get('OMP_NUM_THREADS')} must equal the CPU limit {cpus}")
    security = server.get("securityContext", {})
    if security.get("readOnlyRootFilesystem") is not True or security.get("allowPrivilegeEscalation") is not False:
        fail(f"{name}: beit-server needs readOnlyRootFilesystem: true and allowPrivilegeEscalation: false")
    if spec.get("securityContext", {}).get("runAsNonRoot") is not True:
        fail(f"{name}: the pod must run as non-root")
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for c in spec["containers"] + spec.get("initContainers", []):
        for m in c.get("volumeMounts", []):
            if m["name"] not in volumes:
                fail(f"{name}: {c['name']} mounts undefined volume {m['name']}")
    for v in volumes.values():
        if "configMap" in v and not any(cm["metadata"]["name"] == v["configMap"]["name"] for cm in by_kind["ConfigMap"]):
            fail(f"{name}: volume {v['name']} names a missing ConfigMap")
        if "persistentVolumeClaim" in v and not any(
                p["metadata"]["name"] == v["persistentVolumeClaim"]["claimName"]
                for p in by_kind.get("PersistentVolumeClaim", [])):
            fail(f"{name}: volume {v['name']} names a missing PersistentVolumeClaim")
        if "persistentVolumeClaim" in v and "emptyDir" in v:
            fail(f"{name}: volume {v['name']} has two sources")

    config = json.loads(by_kind["ConfigMap"][0]["data"]["config.json"])
    for key in config:
        flag = key.replace("_", "-")
        if key != "models" and f"--{flag} " not in usage:
            fail(f"{name}: config.json key {key} is not a beit-server flag")
    args = server.get("args", [])
    if "--config" not in args or not any(m.get("mountPath") == os.path.dirname(args[args.index("--config") + 1])
                                         for m in server.get("volumeMounts", [])):
        fail(f"{name}: --config must point into the mounted ConfigMap")
    pre_stop = server.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    pause = int(pre_stop[1]) if len(pre_stop) == 2 and pre_stop[0] == "sleep" else None
    if pause is None:
        fail(f"{name}: a preStop pause (sleep N) lets endpoints drop the pod before SIGTERM")
    elif spec.get("terminationGracePeriodSeconds", 30) <= config.get("grace_period_s", 15) + pause:
        fail(f"{name}: terminationGracePeriodSeconds must exceed the server's drain plus the preStop pause")

    services = by_kind["Service"]
    for s in services:
        if not selects(s["spec"].get("selector"), pod_labels):
            fail(f"{name}: Service {s['metadata']['name']} does not select the server pods")
        for p in s["spec"]["ports"]:
            if p.get("targetPort") not in ports:
                fail(f"{name}: Service {s['metadata']['name']} targets unknown port {p.get('targetPort')}")
    if not any(s["spec"].get("clusterIP") == "None" for s in services):
        fail(f"{name}: a headless Service is needed for client-side round_robin balancing")
    pdb = by_kind["PodDisruptionBudget"][0]
    if not selects(pdb["spec"]["selector"]["matchLabels"], pod_labels):
        fail(f"{name}: the PodDisruptionBudget does not select the server pods")
    hpa = by_kind["HorizontalPodAutoscaler"][0]
    if hpa["spec"]["scaleTargetRef"] != {"apiVersion": "apps/v1", "kind": "Deployment",
                                         "name": deployment["metadata"]["name"]}:
        fail(f"{name}: the HPA does not target the Deployment")
    metric_names = [m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    if "beit_pending_requests" not in metric_names or not any(
            m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in hpa["spec"]["metrics"]):
        fail(f"{name}: the HPA must scale on beit_pending_requests with CPU as fallback")
    if hpa["spec"]["minReplicas"] <= pdb["spec"]["minAvailable"]:
        fail(f"{name}: minReplicas must exceed the PDB's minAvailable, or no pod can ever be evicted")
    server_source = open(os.path.join(root, "server", "observability", "server_metrics.cc")).read()
    if '"beit_pending_requests"' not in server_source:
        fail("the server no longer exports beit_pending_requests, which the HPA scales on")
    for monitor in by_kind.get("ServiceMonitor", []):
        selected = [s for s in services if selects(monitor["spec"]["selector"]["matchLabels"], s["metadata"].get("labels", {}))]
        if len(selected) != 1:
            fail(f"{name}: the ServiceMonitor must select exactly one Service (else pods are scraped twice)")
        elif not all(any(p["name"] == e["port"] for p in selected[0]["spec"]["ports"]) for e in monitor["spec"]["endpoints"]):
            fail(f"{name}: the ServiceMonitor names a port its Service lacks")


def check_extras(root):
    adapter = yaml.safe_load(open(os.path.join(root, "deploy", "prometheus-adapter", "rules.yaml")))
    rule = adapter["rules"][0]
    if "beit_pending_requests" not in rule["seriesQuery"] or rule["name"]["as"] != "beit_pending_requests":
        fail("prometheus-adapter rule must expose beit_pending_requests under that name")
    runtime, *services = list(yaml.safe_load_all(open(os.path.join(root, "deploy", "kserve", "servingruntime.yaml"))))
    if runtime["apiVersion"] != "serving.kserve.io/v1alpha1" or runtime["kind"] != "ServingRuntime":
        fail("kserve/servingruntime.yaml: first document must be a serving.kserve.io/v1alpha1 ServingRuntime")
    if sorted(runtime["spec"].get("protocolVersions", [])) != ["grpc-v2", "v2"]:
        fail("the ServingRuntime must declare protocolVersions v2 (HTTP/REST) and grpc-v2")
    container = runtime["spec"]["containers"][0]
    port = container["ports"][0]
    args = container["args"]
    if port.get("name") != "h2c" or str(port.get("containerPort")) != args[args.index("--port") + 1]:
        fail("KServe routes gRPC to the container port named h2c; it must be the --port the runtime passes")
    by_protocol = {s["spec"]["predictor"]["model"].get("protocolVersion"): s for s in services}
    if set(by_protocol) != {"v2", "grpc-v2"}:
        fail("the KServe examples must be one InferenceService per protocol version (v2, grpc-v2)")
    for s in services:
        if s["kind"] != "InferenceService" or s["spec"]["predictor"]["model"]["runtime"] != runtime["metadata"]["name"]:
            fail("each InferenceService example must name the ServingRuntime")
    rest_ports = by_protocol.get("v2", {}).get("spec", {}).get("predictor", {}).get("model", {}).get("ports", [])
    if not rest_ports or rest_ports[0].get("name") != "http1" or \
            str(rest_ports[0].get("containerPort")) != args[args.index("--http-port") + 1]:
        fail("the REST (v2) InferenceService must route to the runtime's --http-port as the port named http1")


def main(root):
    deploy = os.path.join(root, "deploy")
    yaml_files = [os.path.join(d, f) for d, _, files in os.walk(deploy) for f in files if f.endswith(".yaml")]
    lint_config = ("{extends: default, rules: {line-length: {max: 120}, document-start: disable, "
                   "truthy: {check-keys: false}, comments: {min-spaces-from-content: 1}}}")
    if shutil.which("yamllint"):
        lint = subprocess.run(["yamllint", "-f", "parsable", "-d", lint_config] + sorted(yaml_files),
                              capture_output=True, text=True)
        if lint.returncode != 0:
            fail("yamllint:\n" + lint.stdout + lint.stderr)
    else:
        fail("yamllint is missing (scripts/install_deps.sh --dev installs it)")
    targets = [os.path.join(deploy, "base")] + sorted(
        os.path.join(deploy, "overlays", d) for d in os.listdir(os.path.join(deploy, "overlays")))
    kubectl = shutil.which("kubectl")
    for target in targets:
        name = os.path.relpath(target, root)
        docs = render(target)
        if kubectl:
            real = subprocess.run([kubectl, "kustomize", target], capture_output=True, text=True)
            if real.returncode == 0:
                if normalized(docs) != normalized([d for d in yaml.safe_load_all(real.stdout) if d]):
                    fail(f"{name}: our rendering differs from kubectl kustomize's")
                else:
                    print(f"check_manifests: {name}: rendering identical to kubectl kustomize")
            else:
                print(f"check_manifests: kubectl kustomize unusable here ({real.stderr.strip()[:120]}); ours only")
        check(name, docs, root)
        print(f"check_manifests: {name}: {len(docs)} objects checked")
    check_extras(root)
    for e in ERRORS:
        print("check_manifests:", e)
    print(f"check_manifests: {len(yaml_files)} files, {len(ERRORS)} problems")
    return 1 if ERRORS else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
