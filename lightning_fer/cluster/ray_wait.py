"""Wait until a Ray cluster has N live nodes: the Ray-on-SLURM script runs this between starting nodes and the driver.

python -m lightning_fer.cluster.ray_wait 10.0.0.1:20010 4 --timeout 300
"""

from __future__ import annotations

import argparse
import sys
import time


def wait_for_nodes(address: str, count: int, timeout: float) -> int:
    """Connect to `address` (retrying while the head starts); poll until `count` nodes are alive; return how many."""
    import ray

    deadline = time.monotonic() + timeout
    while True:
        try:
            ray.init(address=address, logging_level="ERROR", log_to_driver=False)
            break
        except (ConnectionError, RuntimeError) as err:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no Ray head at {address} after {timeout:.0f} s: {err}") from err
            time.sleep(2)
    try:
        while True:
            alive = sum(1 for node in ray.nodes() if node["Alive"])
            if alive >= count:
                return alive
            if time.monotonic() > deadline:
                raise TimeoutError(f"Ray at {address} has {alive} of {count} nodes after {timeout:.0f} s")
            time.sleep(2)
    finally:
        ray.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address")
    parser.add_argument("count", type=int)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args(argv)
    try:
        alive = wait_for_nodes(args.address, args.count, args.timeout)
    except TimeoutError as err:
        print(f"[fer] {err}", file=sys.stderr)
        return 1
    print(f"[fer] Ray at {args.address}: {alive} node(s) alive")
    return 0


if __name__ == "__main__":
    sys.exit(main())
