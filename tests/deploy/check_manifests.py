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
   flags with values the config file takes, a model or a repository to serve, a model repository on
   a read-only mount of the server; Services, PDB, HPA and ServiceMonitor select the pods / target
   the Deployment; the prometheus-adapter rule and the HPA agree on the metric; the KServe
   runtime's port is h2c and its REST example routes to --http-port as http1.
4. YAML files beside an overlay that its kustomization does not use are Job examples, created by
   hand (kubectl create -f): checked against that overlay's rendering (the server's image and user,
   claims that exist, pods no Service selects; one writing the model repository needs a
   ReadWriteMany claim, must rename a dot-named copy into place, and must not hide the checkpoint
   the image carries).
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
       "ServiceMonitor": "monitoring.coreos.com/v1", "Job": "batch/v1"}


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def cpu_count(quantity):
    text = str(quantity)
    if not re.fullmatch(r"\d+", text):
        fail(f"CPU {text}: use whole CPUs (oneDNN threads pin best to whole cores)")
        return None
    return int(text)


def under(path, mount_path):
    return path == mount_path or path.startswith(mount_path.rstrip("/") + "/")


def repository_mount(repository, container):
    """The container's volume mount holding the model repository folder (the deepest one), or None."""
    mounts = [m for m in container.get("volumeMounts", []) if under(repository, m["mountPath"])]
    return max(mounts, key=lambda m: len(m["mountPath"]), default=None)


def server_of(docs):
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    spec = pod_spec(deployment)
    return deployment, spec, next((c for c in spec["containers"] if c["name"] == "beit-server"), None)


def server_config(docs):
    return json.loads(next(d for d in docs if d["kind"] == "ConfigMap")["data"]["config.json"])


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
        elif key not in ("models", "model", "load_model") and (
                isinstance(config[key], bool) or not isinstance(config[key], (str, int))):
            fail(f"{name}: config.json {key}: the config file takes a string or an integer, got {config[key]!r}")
    # What ParseServerOptions refuses, and where the repository must be.
    repository = config.get("model_repository")
    mode = config.get("model_control_mode", "poll" if repository else "none")
    if not (config.get("models") or config.get("model") or repository):
        fail(f"{name}: config.json names no model to serve: models or model_repository")
    if mode not in ("none", "poll", "explicit"):
        fail(f"{name}: config.json model_control_mode {mode}: none, poll or explicit")
    elif mode != "none" and not repository:
        fail(f"{name}: config.json model_control_mode {mode} needs model_repository")
    if config.get("load_model") and mode != "explicit":
        fail(f"{name}: config.json load_model goes with model_control_mode explicit")
    if repository:
        mount = repository_mount(repository, server)
        if mount is None:
            fail(f"{name}: model_repository {repository} is on no volume mounted in beit-server")
        elif mount.get("readOnly") is not True:
            fail(f"{name}: beit-server only reads the model repository: mount {mount['name']} read-only "
                 f"(a separate Job writes new versions)")
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


def check_examples(target, docs, root):
    """Files beside an overlay that its kustomization does not use: Job examples, created by hand."""
    k = yaml.safe_load(open(os.path.join(target, "kustomization.yaml")))
    used = {os.path.normpath(os.path.join(target, r)) for r in k.get("resources", [])}
    used |= {os.path.normpath(os.path.join(target, p["path"])) for p in k.get("patches", []) if "path" in p}
    for file in sorted(os.listdir(target)):
        path = os.path.join(target, file)
        if not file.endswith(".yaml") or file == "kustomization.yaml" or path in used:
            continue
        label = os.path.relpath(path, root)
        for doc in yaml.safe_load_all(open(path)):
            if not doc:
                continue
            if doc.get("kind") != "Job" or doc.get("apiVersion") != API["Job"]:
                fail(f"{label}: not in the kustomization, so only a {API['Job']} Job example belongs here, "
                     f"got {doc.get('apiVersion')} {doc.get('kind')}")
            else:
                check_job(label, doc, docs, root)
                print(f"check_manifests: {label}: Job example checked")


def check_job(label, job, docs, root):
    deployment, server_spec, server = server_of(docs)
    spec = job["spec"]["template"]["spec"]
    pod_labels = job["spec"]["template"].get("metadata", {}).get("labels", {})
    if spec.get("restartPolicy") not in ("Never", "OnFailure"):
        fail(f"{label}: a Job's pods need restartPolicy Never or OnFailure")
    selectors = [deployment["spec"]["selector"]["matchLabels"]] + [
        d["spec"]["selector"].get("matchLabels", d["spec"]["selector"])
        for d in docs if d["kind"] in ("Service", "PodDisruptionBudget")]
    if any(selects(s, pod_labels) for s in selectors):
        fail(f"{label}: its pods carry the server's labels (a Service would route to them, the Deployment count them)")
    security = spec.get("securityContext", {})
    if security.get("runAsNonRoot") is not True or security.get("runAsUser") != server_spec["securityContext"].get("runAsUser"):
        fail(f"{label}: run as the server's non-root user, so the server can read what the Job writes")
    pvcs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "PersistentVolumeClaim"}
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in spec.get("volumes", [])
              if "persistentVolumeClaim" in v}
    for volume, claim in claims.items():
        if claim not in pvcs:
            fail(f"{label}: volume {volume} names claim {claim}, which the overlay does not have")
    repository = server_config(docs).get("model_repository")
    server_mount = repository_mount(repository, server) if repository else None
    server_volume = next((v for v in server_spec.get("volumes", []) if server_mount and v["name"] == server_mount["name"]), {})
    repository_claim = server_volume.get("persistentVolumeClaim", {}).get("claimName")
    dockerfile = open(os.path.join(root, "docker", "Dockerfile")).read()
    checkpoint = re.search(r"^COPY \$\{MODEL_DIR\} (\S+)", dockerfile, re.M).group(1)
    for c in spec["containers"]:
        where = f"{label}: container {c['name']}"
        if c.get("image") != server["image"]:
            fail(f"{where}: image {c.get('image')}; the only image built here is the server's, {server['image']}")
        c_security = c.get("securityContext", {})
        if c_security.get("readOnlyRootFilesystem") is not True or c_security.get("allowPrivilegeEscalation") is not False:
            fail(f"{where}: needs readOnlyRootFilesystem: true and allowPrivilegeEscalation: false")
        script = "\n".join(c.get("command", []) + c.get("args", []))
        if checkpoint in script and any(under(checkpoint, m["mountPath"]) for m in c.get("volumeMounts", [])):
            fail(f"{where}: a volume mounted over {checkpoint} hides the checkpoint the image carries")
        for m in c.get("volumeMounts", []):
            if claims.get(m["name"]) != repository_claim or m.get("readOnly"):
                continue
            # It writes the model repository.
            if "ReadWriteMany" not in pvcs.get(repository_claim, {}).get("spec", {}).get("accessModes", []):
                fail(f"{label}: claim {repository_claim} is written by this Job while every replica reads it: "
                     f"ReadWriteMany")
            relative = os.path.relpath(repository, server_mount["mountPath"])
            job_repository = os.path.normpath(os.path.join(m["mountPath"], m.get("subPath", ""), relative))
            if job_repository not in script:
                fail(f"{where}: writes {m['mountPath']} but never names the repository there, {job_repository}")
            if not ("/." in script and re.search(r"\bmv\b", script)):
                fail(f"{where}: copy to a dot-name (ignored by the server) and rename it into place with mv, "
                     f"so a pod starting mid-copy never loads half a version")


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
        if target != os.path.join(deploy, "base"):
            check_examples(target, docs, root)
    check_extras(root)
    for e in ERRORS:
        print("check_manifests:", e)
    print(f"check_manifests: {len(yaml_files)} files, {len(ERRORS)} problems")
    return 1 if ERRORS else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
