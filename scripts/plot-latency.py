#!/usr/bin/env python3
"""Plots HdrHistogram percentile distributions (.hgrm) as latency-by-percentile curves.

    scripts/plot-latency.py latency-dumps/shardis-*-0003-*.hgrm -o latency.png
    scripts/plot-latency.py latency-results/dual-ping.hgrm latency-results/single-ping.hgrm

Each file becomes one curve named after it; the x axis is the percentile on the usual
log scale of 1/(1-p). Needs matplotlib (installed from PyPI with pip if missing).
"""
import argparse
import os
import subprocess
import sys


def load(path):
    points = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 4 and not line.startswith("#"):
                try:
                    value, pct = float(parts[0]), float(parts[1])
                except ValueError:
                    continue
                if pct < 1.0:
                    points.append((1.0 / (1.0 - pct), value))
    return points


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", help=".hgrm files")
    p.add_argument("-o", "--output", default="latency.png")
    p.add_argument("--title", default="shardis latency by percentile")
    args = p.parse_args()
    try:
        import matplotlib
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"], check=True)
        import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    for path in args.files:
        pts = load(path)
        if not pts:
            print(f"{path}: no percentile lines", file=sys.stderr)
            continue
        ax.plot([x for x, _ in pts], [y for _, y in pts], label=os.path.basename(path))
    ax.set_xscale("log")
    ticks = [1, 2, 10, 100, 1000, 10000, 100000]
    ax.set_xticks(ticks)
    ax.set_xticklabels(["0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%"])
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms)")
    ax.set_title(args.title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
