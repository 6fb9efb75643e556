#!/usr/bin/env python3
"""Baseline for scripts/compare-baselines: DynamoDB stream events to gzipped, tab-separated
`changes` and `attributes` rows per day, written the way a Python Lambda handler commonly is
(json and gzip from the standard library, no boto3, one event at a time).

Usage: normalize.py EVENTS.jsonl OUT_DIR   (one Lambda event per line)
"""
import gzip
import json
import os
import sys
from collections import defaultdict
from datetime import datetime, timezone

CHANGES_HEADER = "event_name\tsequence_number\tevent_time\ttenant\titem_key\tpk\tsk\tevent_id\tstream_view_type\tsize_bytes\n"
ATTRIBUTES_HEADER = "event_name\tsequence_number\tevent_time\ttenant\titem_key\tpk\tsk\tpath\ttype\tvalue\n"


def escape(value):
    if value is None:
        return "\\N"
    return value.replace("\\", "\\\\").replace("\t", "\\\t").replace("\n", "\u240a").replace("\r", "\u240d")


def row(fields):
    return "\t".join(escape(f) for f in fields) + "\n"


def scalar(kind, value):
    if kind == "BOOL":
        return "true" if value else "false"
    if kind == "NULL":
        return None
    return value  # S, N, and B (already base64 in the event)


def leaves(path, attribute, out):
    (kind, value), = attribute.items()
    if kind == "M":
        if not value:
            out.append((path, "M", None))
        for name, inner in value.items():
            leaves(f"{path}.{name}", inner, out)
    elif kind == "L":
        if not value:
            out.append((path, "L", None))
        for i, inner in enumerate(value):
            leaves(f"{path}[{i}]", inner, out)
    elif kind in ("SS", "NS", "BS"):
        for i, element in enumerate(value):
            out.append((f"{path}[{i}]", kind, element))
    else:
        out.append((path, kind, scalar(kind, value)))


def handle(event, out_dir, number):
    tables = defaultdict(list)
    for record in event["Records"]:
        change = record["dynamodb"]
        at = datetime.fromtimestamp(change["ApproximateCreationDateTime"], tz=timezone.utc)
        day = at.strftime("%Y-%m-%d")
        keys = change["Keys"]
        item_key = json.dumps({k: next(iter(v.values())) for k, v in keys.items()}, sort_keys=True, separators=(",", ":"))
        common = [
            record["eventName"],
            change.get("SequenceNumber"),
            at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
            None,
            item_key,
            keys.get("pk", {}).get("S"),
            keys.get("sk", {}).get("S"),
        ]
        tables[("changes", day)].append(
            row(common + [record.get("eventID"), change.get("StreamViewType"), str(change.get("SizeBytes"))])
        )
        image = change.get("NewImage")
        if image:
            found = []
            for name, value in image.items():
                leaves(name, value, found)
            for path, kind, value in found:
                tables[("attributes", day)].append(row(common + [path, kind, value]))
    for (table, day), rows in tables.items():
        folder = os.path.join(out_dir, table, f"dt={day}")
        os.makedirs(folder, exist_ok=True)
        with gzip.open(os.path.join(folder, f"event{number:06d}.tsv.gz"), "wt", compresslevel=1, encoding="utf-8") as f:
            f.write(CHANGES_HEADER if table == "changes" else ATTRIBUTES_HEADER)
            f.writelines(rows)


def main():
    events, out_dir = sys.argv[1], sys.argv[2]
    with open(events, encoding="utf-8") as f:
        for number, line in enumerate(f):
            if line.strip():
                handle(json.loads(line), out_dir, number)


if __name__ == "__main__":
    main()
