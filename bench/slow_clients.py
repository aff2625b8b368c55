#!/usr/bin/python3
"""Probe latency while slow and idle clients hold connections (issue #28).

Against a running beit-server on loopback: opens TRICKLE connections on each HTTP port (the
inference port and the metrics port) that send a request line and then one byte per second, SILENT
connections that connect and send nothing, and GRPC_STALLED connections on the gRPC port that send
nothing; then, while they are held, times PROBES probes each of GET /v2/health/ready, GET /metrics
and grpc.health.v1.Health/Check from a well-behaved client, one after another. Prints one JSON line
per probe kind (p50 and max in ms, failures) and how many attack connections the server closed.

Usage: bench/slow_clients.py --http-port P --metrics-port M --grpc-port G
           [--trickle 1000] [--silent 1000] [--grpc-stalled 500] [--probes 20] [--hold-s 5]
Run with Debian's Python (/usr/bin/python3: grpcio); raise `ulimit -n` for thousands of sockets.
"""
import argparse
import json
import selectors
import socket
import statistics
import time

import grpc


def connect_many(port, count):
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        socks.append(s)
    return socks


def http_get(port, path, timeout):
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else 0
    return (time.monotonic() - start) * 1e3, status


def grpc_health(port, timeout):
    start = time.monotonic()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                    request_serializer=lambda b: b, response_deserializer=lambda b: b)
        answer = check(b"", timeout=timeout)  # an empty HealthCheckRequest: the whole server
    return (time.monotonic() - start) * 1e3, 200 if answer == b"\x08\x01" else 0


def closed_count(socks):
    """How many of `socks` the server closed (whatever it sent before: a 408, HTTP/2 settings)."""
    closed = 0
    for s in socks:
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    closed += 1
                    break
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    return closed


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--http-port", type=int, required=True)
    p.add_argument("--metrics-port", type=int, required=True)
    p.add_argument("--grpc-port", type=int, required=True)
    p.add_argument("--trickle", type=int, default=1000)
    p.add_argument("--silent", type=int, default=1000)
    p.add_argument("--grpc-stalled", type=int, default=500)
    p.add_argument("--probes", type=int, default=20)
    p.add_argument("--hold-s", type=float, default=5, help="attack time before the first probe")
    p.add_argument("--timeout-s", type=float, default=60, help="a probe slower than this fails")
    args = p.parse_args()

    trickle, silent = [], []
    for port in (args.http_port, args.metrics_port):
        trickle += [(s, port) for s in connect_many(port, args.trickle)]
        silent += connect_many(port, args.silent)
    grpc_stalled = connect_many(args.grpc_port, args.grpc_stalled)
    time.sleep(0.5)
    for s, port in trickle:
        path = "/metrics" if port == args.metrics_port else "/v2/health/ready"
        try:
            s.send(f"GET {path} HTTP/1.1\r\n".encode())
        except OSError:
            pass

    sent = [0]

    def trickle_once():
        for s, _ in trickle:
            try:
                s.send(b"X")
                sent[0] += 1
            except OSError:
                pass

    last = time.monotonic()

    def keep_trickling():
        nonlocal last
        if time.monotonic() - last >= 1:
            trickle_once()
            last = time.monotonic()

    deadline = time.monotonic() + args.hold_s
    while time.monotonic() < deadline:
        keep_trickling()
        time.sleep(0.05)

    probes = {"/v2/health/ready": lambda: http_get(args.http_port, "/v2/health/ready", args.timeout_s),
              "/metrics": lambda: http_get(args.metrics_port, "/metrics", args.timeout_s),
              "grpc.health.v1": lambda: grpc_health(args.grpc_port, args.timeout_s)}
    for name, probe in probes.items():
        latencies, failures = [], 0
        for _ in range(args.probes):
            keep_trickling()
            try:
                ms, status = probe()
                if status != 200:
                    failures += 1
                latencies.append(ms)
            except Exception:  # a timeout or a refused connection is a failed probe
                failures += 1
                latencies.append(args.timeout_s * 1e3)
        print(json.dumps({"probe": name, "count": args.probes, "failures": failures,
                          "p50_ms": round(statistics.median(latencies), 2), "max_ms": round(max(latencies), 2),
                          "trickle_per_port": args.trickle, "silent_per_port": args.silent,
                          "grpc_stalled": args.grpc_stalled}), flush=True)
    print(json.dumps({"attack_connections_closed_by_server": {
        "http_trickle": closed_count([s for s, port in trickle if port == args.http_port]),
        "metrics_trickle": closed_count([s for s, port in trickle if port == args.metrics_port]),
        "silent": closed_count(silent), "grpc": closed_count(grpc_stalled)},
        "seconds_since_attack_start": round(args.hold_s, 1)}), flush=True)


if __name__ == "__main__":
    main()
