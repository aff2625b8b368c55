#!/usr/bin/python3
"""Checks docker/Dockerfile as text, in a second (scripts/container_check.sh builds and runs it).

Everything it refers to must exist in the repository, and it must follow the hadolint rules
that apply to it:
  - build context: every COPY source exists (ARG defaults substituted) and is not .dockerignored;
    every scripts/... it runs exists and is executable; binaries copied from the build stage are
    CMake install() targets; the HEALTHCHECK command is a beit-client command that exists;
  - EXPOSE matches the server's default gRPC, metrics and HTTP (Open Inference Protocol) ports;
  - DL3006/DL3007 tagged base images, never :latest; DL3000 absolute WORKDIR; DL3002 the last
    USER is not root; DL3004 no sudo; DL3003 no cd in RUN (use WORKDIR); DL3008-style: apt-get
    install with -y and --no-install-recommends (DL3015) in the same RUN as apt-get update
    (DL3009 cleanup of /var/lib/apt/lists too, and apt-get clean: the base has no
    auto-clean hook of its own); DL3025 exec (JSON) form for ENTRYPOINT, CMD and
    HEALTHCHECK CMD; COPY --from names a stage defined earlier.
Usage: check_dockerfile.py REPO_ROOT   (exit 0 when every check passes; each failure printed)
"""
import fnmatch
import json
import os
import re
import sys


def instructions(text):
    """(keyword, argument string) per instruction, continuation lines joined, comments dropped."""
    out, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        current += " " + stripped[:-1] if stripped.endswith("\\") else " " + stripped
        if not stripped.endswith("\\"):
            keyword, _, rest = current.strip().partition(" ")
            out.append((keyword.upper(), rest.strip()))
            current = ""
    return out


def main(root):
    errors = []
    dockerfile = os.path.join(root, "docker", "Dockerfile")
    text = open(dockerfile).read()
    steps = instructions(text)
    ignore_path = os.path.join(root, ".dockerignore")
    ignored = [l.strip() for l in open(ignore_path).read().splitlines() if l.strip() and not l.startswith("#")] \
        if os.path.exists(ignore_path) else []
    for must in (".git", "build"):
        if must not in ignored:
            errors.append(f".dockerignore must exclude {must}")

    args = {}
    stages = []
    last_user = None
    exposed = set()
    healthcheck = None
    for keyword, rest in steps:
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), rest.split()[0])
            if ":" not in image or image.endswith(":latest"):
                errors.append(f"FROM {image}: pin a tag, never latest (DL3006/DL3007)")
            if not image.startswith("debian:bookworm"):
                errors.append(f"FROM {image}: the project builds on Debian 12 (bookworm)")
            m = re.search(r"\bAS\s+(\S+)", rest, re.IGNORECASE)
            stages.append(m.group(1) if m else None)
            last_user = None
        elif keyword == "WORKDIR":
            if not rest.startswith("/"):
                errors.append(f"WORKDIR {rest}: must be absolute (DL3000)")
        elif keyword == "USER":
            last_user = rest
        elif keyword == "EXPOSE":
            exposed.update(int(p.split("/")[0]) for p in rest.split())
        elif keyword == "COPY":
            parts = rest.split()
            from_stage = next((p.split("=", 1)[1] for p in parts if p.startswith("--from=")), None)
            paths = [p for p in parts if not p.startswith("--")]
            sources = [re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), p) for p in paths[:-1]]
            if from_stage is not None:
                if from_stage not in stages[:-1]:
                    errors.append(f"COPY --from={from_stage}: no earlier stage has that name")
                for source in sources:
                    binary = os.path.basename(source)
                    if source.startswith("/opt/beit-serve/bin/") and not any(
                            f"install(TARGETS {binary}" in open(os.path.join(d, "CMakeLists.txt")).read()
                            for d in (os.path.join(root, x) for x in ("server", "client", "tools"))):
                        errors.append(f"COPY {source}: {binary} is not a CMake install() target")
            else:
                for source in sources:
                    if source != "." and not os.path.exists(os.path.join(root, source)):
                        errors.append(f"COPY {source}: not in the repository (the build context)")
                    if any(fnmatch.fnmatch(source, pattern) for pattern in ignored):
                        errors.append(f"COPY {source}: excluded by .dockerignore")
        elif keyword == "RUN":
            if re.search(r"\bsudo\b", rest):
                errors.append("RUN uses sudo (DL3004)")
            if re.search(r"(^|&&|;)\s*cd\s", rest):
                errors.append("RUN uses cd; use WORKDIR (DL3003)")
            for script in re.findall(r"(?<![\w/])(scripts/[\w./-]+)", rest):
                path = os.path.join(root, script)
                if not os.path.isfile(path) or not os.access(path, os.X_OK):
                    errors.append(f"RUN {script}: missing or not executable")
            if "apt-get install" in rest:
                if "apt-get update" not in rest.split("apt-get install")[0]:
                    errors.append("apt-get install without apt-get update in the same RUN (DL3009)")
                if "--no-install-recommends" not in rest:
                    errors.append("apt-get install without --no-install-recommends (DL3015)")
                if " -y" not in rest:
                    errors.append("apt-get install without -y")
                if "rm -rf /var/lib/apt/lists/*" not in rest:
                    errors.append("apt lists not removed after install (DL3009)")
                if "apt-get clean" not in rest:
                    errors.append("downloaded packages not removed after install (apt-get clean)")
        elif keyword in ("ENTRYPOINT", "CMD"):
            try:
                json.loads(rest)
            except ValueError:
                errors.append(f"{keyword} {rest}: use the exec (JSON) form (DL3025)")
        elif keyword == "HEALTHCHECK":
            command = rest[rest.index("CMD") + 3:].strip() if "CMD" in rest else ""
            try:
                healthcheck = json.loads(command)
            except ValueError:
                errors.append("HEALTHCHECK CMD: use the exec (JSON) form")

    if last_user is None or last_user in ("0", "root"):
        errors.append("the runtime stage must end with a non-root USER (DL3002)")
    options = open(os.path.join(root, "server", "server_options.h")).read()
    grpc_port = int(re.search(r"int port = (\d+);", options).group(1))
    metrics_port = int(re.search(r"int metrics_port = (\d+);", options).group(1))
    http_port = int(re.search(r"int http_port = (\d+);", options).group(1))
    if exposed != {grpc_port, metrics_port, http_port}:
        errors.append(f"EXPOSE {sorted(exposed)}: expected the server defaults {grpc_port}, {metrics_port} and "
                      f"{http_port}")
    if not healthcheck or healthcheck[0] != "beit-client" or "health" not in healthcheck:
        errors.append("HEALTHCHECK must run `beit-client ... health`")
    elif '"health"' not in open(os.path.join(root, "client", "beit_client_main.cc")).read():
        errors.append("beit-client has no health command")
    if "COPY --from=build /opt/beit-serve/bin/beit-server /opt/beit-serve/bin/beit-client" not in text:
        errors.append("the runtime stage must copy beit-server and beit-client")

    for e in errors:
        print("check_dockerfile:", e)
    print(f"check_dockerfile: {len(steps)} instructions, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
