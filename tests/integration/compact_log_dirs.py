"""
DescribeLogDirs through kafka-python 3's KafkaAdminClient.describe_log_dirs(),
for test_compaction.py. Runs under build/venv/bin/python (Debian's
kafka-python 2.0.2 has no describe_log_dirs).

Prints one JSON object on stdout: {"<topic>-<partition>": size in bytes, ...}
for every partition of every log directory the broker reports. A log
directory that answers with an error code makes it exit 1 with the answer
on stderr.

Usage: compact_log_dirs.py BOOTSTRAP
"""

import json
import sys

from kafka.admin import KafkaAdminClient


def main():
    admin = KafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=30000)
    try:
        answer = admin.describe_log_dirs()
    finally:
        admin.close()
    sizes = {}
    for broker in answer:
        for log_dir in broker["log_dirs"]:
            if log_dir["error_code"] != 0:
                sys.stderr.write("log dir error: %r\n" % (log_dir,))
                sys.exit(1)
            for topic in log_dir["topics"]:
                for p in topic["partitions"]:
                    sizes["%s-%d" % (topic["name"], p["partition_index"])] = p["partition_size"]
    print(json.dumps(sizes))


if __name__ == "__main__":
    main()
