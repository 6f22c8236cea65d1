#!/usr/bin/env python3
"""Parses Prometheus text (stdin) with the reference Python client's parser and prints
what it understood, one tab-separated line each, for tests/server_admin.rs:

    family <name> <type> <help>
    sample <family> <sample name> <label=value,... sorted> <value>

A text the parser rejects makes this exit non-zero.
"""
import sys

from prometheus_client.parser import text_string_to_metric_families

for family in text_string_to_metric_families(sys.stdin.read()):
    print("family", family.name, family.type, family.documentation, sep="\t")
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print("sample", family.name, s.name, labels, repr(float(s.value)), sep="\t")
