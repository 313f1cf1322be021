#!/usr/bin/env python3
"""Summarises the per-launch CSV that `GPU_NCU=1 tools/gpu-check.sh` writes ($OUT/ncu-decode.csv:
Nsight Compute's --csv output with gpu__time_duration.sum, dram__bytes_read.sum and
launch__grid_size per launch): one row per kernel and launch shape, slowest total first, with
launches, microseconds per launch, DRAM megabytes read per launch and the bandwidth they imply.
Usage: tools/ncu_summary.py ncu-decode.csv"""
import collections
import csv
import sys


def main(path):
    with open(path, newline="") as f:
        rows = [line for line in f if line.startswith('"')]  # ncu's own notes are not CSV
    table = list(csv.reader(rows))
    if not table:
        sys.exit(f"{path}: no CSV rows")
    header, body = table[0], table[1:]
    col = {name: header.index(name) for name in
           ("ID", "Kernel Name", "Block Size", "Grid Size", "Metric Name", "Metric Value")}
    launches = collections.OrderedDict()
    for r in body:
        launch = launches.setdefault(r[col["ID"]], {
            "name": r[col["Kernel Name"]].split("(")[0].replace("unnamed>::", ""),
            "shape": f"{r[col['Grid Size']]} x {r[col['Block Size']]}"})
        launch[r[col["Metric Name"]]] = float(r[col["Metric Value"]].replace(",", ""))
    groups = collections.defaultdict(lambda: [0, 0.0, 0.0])
    for launch in launches.values():
        g = groups[(launch["name"], launch["shape"])]
        g[0] += 1
        g[1] += launch.get("gpu__time_duration.sum", 0.0)  # ns
        g[2] += launch.get("dram__bytes_read.sum", 0.0)    # bytes
    print(f"{'kernel':44} {'grid x block':28} {'n':>5} {'us/launch':>10} {'MB/launch':>10} "
          f"{'GB/s':>7}")
    for (name, shape), (n, ns, read) in sorted(groups.items(), key=lambda kv: -kv[1][1]):
        bandwidth = read / ns if ns else 0.0  # bytes per ns = GB/s
        print(f"{name[:44]:44} {shape:28} {n:5d} {ns / n / 1e3:10.2f} {read / n / 1e6:10.2f} "
              f"{bandwidth:7.0f}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
