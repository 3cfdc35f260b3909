"""
Running Apache Kafka's command-line tool classes quickly (test_kafka_tools.py).

kafkaref.run_tool starts one JVM per tool run, and most of a short tool's
life is JVM start-up: loading and verifying a few thousand classes, and
compiling. Two JVM options, passed through JDK_JAVA_OPTIONS (the `java`
launcher's own variable; it prints a NOTE about it on stderr, which is
removed here):
  - -XX:TieredStopAtLevel=1: C1 only; C2 compiles for a run that ends before
    the code pays back.
  - a dynamic class-data archive per tool class, written by the first
    run of that class (-XX:ArchiveClassesAtExit) and used by the
    later ones (-XX:SharedArchiveFile). The archives are kept in
    build/reference/tools-cds/, named after the JDK and the jars, so a new
    JDK or a new fetch makes new ones. A run that fails, or an archive the
    JVM cannot use, only costs speed: the JVM runs without it.
-Xlog:disable keeps the JVM's own CDS warnings out of the tools' output.
The tools' behaviour is not changed by any of this.
"""

import glob
import hashlib
import os
import re
import shutil
import subprocess

import kafkaref

BASE_OPTS = ["-XX:TieredStopAtLevel=1", "-Xlog:disable"]
_JVM_NOTE = re.compile(r"^NOTE: Picked up JDK_JAVA_OPTIONS: .*\n", re.M)
_digest = None


def _archive_dir():
    return os.path.join(os.path.dirname(kafkaref.LIBS), "tools-cds")


def _jdk_and_jars_digest():
    global _digest
    if _digest is None:
        h = hashlib.sha256()
        java = shutil.which("java") or "java"
        h.update(os.path.realpath(java).encode())
        h.update(subprocess.run([java, "-version"], capture_output=True, timeout=60).stderr)
        for name in sorted(os.listdir(kafkaref.LIBS)):
            st = os.stat(os.path.join(kafkaref.LIBS, name))
            h.update(("%s %d %d\n" % (name, st.st_size, st.st_mtime_ns)).encode())
        h.update(" ".join(kafkaref.JVM_GC_OPTS + BASE_OPTS).encode())
        _digest = h.hexdigest()[:16]
    return _digest


def _archive_path(main_class):
    return os.path.join(_archive_dir(), "%s-%s.jsa" % (main_class, _jdk_and_jars_digest()))


def run(main_class, args, input=None, timeout=120):
    """kafkaref.run_tool(main_class, args) with the options above; returns the
    CompletedProcess (text), stderr without the launcher's NOTE line."""
    archive = _archive_path(main_class)
    opts = list(BASE_OPTS)
    tmp = None
    if os.path.exists(archive):
        opts.append("-XX:SharedArchiveFile=" + archive)
    else:
        os.makedirs(_archive_dir(), exist_ok=True)
        tmp = "%s.%d.tmp" % (archive, os.getpid())
        opts.append("-XX:ArchiveClassesAtExit=" + tmp)
    env = dict(os.environ)
    env["JDK_JAVA_OPTIONS"] = " ".join(opts)
    try:
        r = kafkaref.run_tool(main_class, [str(a) for a in args], input=input,
                              timeout=timeout, env=env)
        # Any run that ended by itself wrote a usable archive (one that failed
        # early holds fewer classes: only slower). One killed by the timeout
        # raised above, and its file is removed below.
        if tmp is not None and os.path.exists(tmp) and os.path.getsize(tmp) > 0:
            for old in glob.glob(os.path.join(_archive_dir(), main_class + "-*.jsa")):
                if old != archive:
                    os.unlink(old)
            os.replace(tmp, archive)
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    r.stderr = _JVM_NOTE.sub("", r.stderr)
    return r
