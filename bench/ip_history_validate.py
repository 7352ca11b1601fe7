#!/usr/bin/env python3
"""
How long ip_history.validate takes on a generated changelog (default 100,000 lines).

    .venv/bin/python bench/ip_history_validate.py [LINES] [REPEATS]

Each VM changes owner along a chain of random users, so the chain check does real work.
Prints the best and median wall time over REPEATS runs. Target: under 1 s for 100,000 lines.
"""

import datetime
import importlib.util
import pathlib
import random
import statistics
import sys
import tempfile
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent


def load_module():
    spec = importlib.util.spec_from_file_location("ip_history", ROOT / "_modules" / "ip_history.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def changelog(lines, seed=19):
    rng = random.Random(seed)
    users = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(5000)]
    owner = {}
    start = datetime.datetime(2014, 1, 1)
    out = []
    for n in range(lines):
        vm = rng.randrange(1, lines // 4 + 2)
        current = owner.get(vm) or rng.choice(users)
        new = rng.choice(users)
        while new == current:
            new = rng.choice(users)
        owner[vm] = new
        date = start + datetime.timedelta(seconds=n * 60, microseconds=rng.randrange(10**6))
        out.append(f"{vm}|{current}|{new}|{date:%Y-%m-%d %H:%M:%S.%f}\n")
    return "".join(out)


def main():
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    module = load_module()
    with tempfile.NamedTemporaryFile("w", suffix=".log") as handle:
        handle.write(changelog(lines))
        handle.flush()
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            result = module.validate(handle.name)
            times.append(time.perf_counter() - began)
    assert result["valid"], result["errors"][:3]
    assert result["changes"] == lines
    print(f"ip_history.validate: {lines} lines, {repeats} runs: best {min(times):.3f} s, median {statistics.median(times):.3f} s")


if __name__ == "__main__":
    main()
