"""A simulated multi-node Ray cluster on this machine, for the worker-node fault test.

Run as a script: starts a head raylet and one raylet per `--node NAME=POOL` (each labelled
`ilid.io/pool: POOL`) with `ray.cluster_utils.Cluster`, prints one JSON line with the cluster's
address and each node's raylet PID, then reads commands from stdin: `kill NAME` SIGKILLs that
node's raylet and its other processes (its workers end with it) and answers `killed NAME` once
the cluster has marked the node dead. End of stdin shuts the cluster down. A separate process
because a test process may already be a driver of another Ray instance.
"""

from __future__ import annotations

import argparse
import json
import sys

POOL_LABEL = "ilid.io/pool"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--head-pool", required=True)
    parser.add_argument("--head-cpus", type=int, default=2)
    parser.add_argument("--node", action="append", default=[], help="NAME=POOL, one CPU each")
    args = parser.parse_args()

    from ray._private import ray_constants
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": args.head_cpus, "labels": {POOL_LABEL: args.head_pool}, "include_dashboard": False})
    nodes = {"head": cluster.head_node}
    for spec in args.node:
        name, pool = spec.split("=", 1)
        nodes[name] = cluster.add_node(num_cpus=1, labels={POOL_LABEL: pool})
    cluster.wait_for_nodes()

    def raylet(node) -> int:
        return node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid

    print(json.dumps({"address": cluster.address, "raylets": {n: raylet(node) for n, node in nodes.items()}}),
          flush=True)
    try:
        for line in sys.stdin:
            command, name = line.split()
            if command != "kill":
                raise ValueError(f"unknown command {line!r}")
            cluster.remove_node(nodes.pop(name), allow_graceful=False)  # SIGKILLs its raylet
            cluster.wait_for_nodes(timeout=300)  # answer once the cluster has marked it dead
            print(f"killed {name}", flush=True)
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
