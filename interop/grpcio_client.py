"""A gRPC client we did not write, pointed at mesh-control over xDS.

Python's grpcio (gRPC C-core) resolves `xds:///<target>` with the bootstrap
named by GRPC_XDS_BOOTSTRAP, subscribes to our control plane, and routes by
what it hears. The Rust test `tests/interop_grpcio.rs` starts the control
plane and the conference servers, runs this script, and checks its report.

Usage:
  grpcio_client.py count TARGET N [HEADER=VALUE] [--method List|Purge]
      N calls; prints {"versions": {...}, "errors": {...}, "max_ms": M} as
      JSON (M: the slowest call, in milliseconds). Each call has a 5 s
      deadline of its own.
  grpcio_client.py until TARGET VERSION COUNT MAX
      Calls until VERSION has answered COUNT times in a row (or MAX calls);
      prints "started" after the first answer, then the JSON report.

Both modes first wait (up to READY_TIMEOUT seconds, env
MESH_INTEROP_READY_TIMEOUT, default 30) for the channel to become READY,
i.e. for the xDS resolver and load balancer to have a usable config: a
config gRPC rejects then fails fast, with the JSON report saying so and
exit code 2, instead of 5 s per call. Set GRPC_VERBOSITY=debug and
GRPC_TRACE=xds_client,xds_resolver,... to see gRPC's NACK reasons.
"""

import json
import os
import sys
import tempfile
import time

import grpc
from grpc_tools import protoc


def load_stubs():
    here = os.path.dirname(os.path.abspath(__file__))
    proto_dir = os.path.join(here, "..", "proto")
    # The generated modules are needed only until they are imported; the
    # directory goes with the `with`, so runs leave nothing in /tmp.
    with tempfile.TemporaryDirectory(prefix="mesh-interop-") as out:
        code = protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{proto_dir}",
                f"--python_out={out}",
                f"--grpc_python_out={out}",
                os.path.join(proto_dir, "conference.proto"),
            ]
        )
        if code != 0:
            raise SystemExit(f"protoc failed with {code}")
        sys.path.insert(0, out)
        try:
            import conference_pb2
            import conference_pb2_grpc
        finally:
            sys.path.remove(out)

    return conference_pb2, conference_pb2_grpc


def call(stub, pb, method, metadata):
    rpc = getattr(stub, method)
    return rpc(pb.ListRequest(conference="interop"), metadata=metadata, timeout=5)


def main(argv):
    pb, pb_grpc = load_stubs()
    mode, target = argv[1], argv[2]
    channel = grpc.insecure_channel(f"xds:///{target}")
    stub = pb_grpc.AttendeesStub(channel)
    versions, errors = {}, {}

    ready_timeout = float(os.environ.get("MESH_INTEROP_READY_TIMEOUT", "30"))
    try:
        grpc.channel_ready_future(channel).result(timeout=ready_timeout)
    except grpc.FutureTimeoutError:
        errors[f"channel to xds:///{target} not READY after {ready_timeout:g}s"] = 1
        print(json.dumps({"versions": versions, "errors": errors}), flush=True)
        sys.exit(2)

    def record(reply_or_error):
        if isinstance(reply_or_error, grpc.RpcError):
            key = f"{reply_or_error.code().name}: {reply_or_error.details()}"
            errors[key] = errors.get(key, 0) + 1
            return None
        versions[reply_or_error.version] = versions.get(reply_or_error.version, 0) + 1
        return reply_or_error.version

    slowest = [0.0]

    def one(method, metadata):
        start = time.monotonic()
        try:
            return record(call(stub, pb, method, metadata))
        except grpc.RpcError as e:
            return record(e)
        finally:
            slowest[0] = max(slowest[0], time.monotonic() - start)

    if mode == "count":
        n = int(argv[3])
        metadata, method = [], "List"
        rest = argv[4:]
        while rest:
            arg = rest.pop(0)
            if arg == "--method":
                method = rest.pop(0)
            else:
                k, v = arg.split("=", 1)
                metadata.append((k, v))
        for _ in range(n):
            one(method, metadata)
    elif mode == "until":
        want, count, limit = argv[3], int(argv[4]), int(argv[5])
        streak, started = 0, False
        for _ in range(limit):
            got = one("List", [])
            if not started and got is not None:
                print("started", flush=True)
                started = True
            streak = streak + 1 if got == want else 0
            if streak >= count:
                break
    else:
        raise SystemExit(f"unknown mode {mode}")
    report = {"versions": versions, "errors": errors, "max_ms": round(slowest[0] * 1000)}
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main(sys.argv)
