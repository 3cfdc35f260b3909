"""
Finalized features (KIP-584): `transaction.version`, the feature Kafka's
Java client reads from ApiVersions to choose transactions V2 (KIP-890).

On both brokers (Kafka 4.4.0 is the reference):
- a fresh broker finalizes transaction.version at 2 (`kafka-storage
  format`'s default in Kafka 4.4; Gregor's first controller writes the same
  FeatureLevelRecord into an empty metadata log): ApiVersions v3+ lists it
  finalized at 2 (max and min level both 2) with an epoch >= 0, v4+ lists it
  supported 0-2, v3 leaves it out of the supported features (Kafka omits a
  feature whose range starts at 0 there), v0-2 carry no features;
- Kafka's own kafka-features.sh (org.apache.kafka.tools.FeatureCommand)
  describes it with the same line (the epoch aside), downgrades it to 1,
  disables it and upgrades it to 2 again, each change visible in ApiVersions
  with a larger finalized epoch, and refuses what Kafka refuses with
  Kafka's words (a level beyond 2, an unknown feature, a downgrade asked as
  an upgrade);
- raw UpdateFeatures v0-2: validate_only changes nothing, v0-1 answer a
  result per feature ("NONE" as its message), v2 none, a refused update
  fails the whole request at the top level (INVALID_UPDATE_VERSION);
- the level survives a restart.
Gregor only: the level comes back from a metadata snapshot too; a
metadata log written before Gregor knew the feature (no FeatureLevelRecord)
stays at transactions V1 (not finalized), as an upgraded Kafka cluster
does, until kafka-features.sh upgrades it; and Gregor's own
bin/kafka-features.sh (`gregor features`) prints what Kafka's tool prints,
byte for byte, with the same exit status.
"""

import os
import struct
import subprocess

import pytest

import kafka_tools_run
import kafka_wire as kw
import kafkaref

FEATURES = "org.apache.kafka.tools.FeatureCommand"
TV = "transaction.version"
TOOL_TIMEOUT = 120
INVALID_UPDATE_VERSION = 95
PREFIX = "The update failed for all features since the following feature had an error: "


@pytest.fixture(scope="module", autouse=True)
def reference_jars():
    kafkaref.fetch(quiet=True)


def api_versions(broker, version=4):
    s = kw.connect(broker.port)
    try:
        if version >= 5:  # v5 adds the cluster and node a client means (null, -1: none)
            body = (kw.compact_string("gregor-raw") + kw.compact_string("1.0") + kw.uvarint(0)
                    + struct.pack(">i", -1) + b"\x00")
            s.sendall(kw.frame(kw.request_header_v2(18, version, 1) + body))
        else:
            s.sendall(kw.api_versions(1, version))
        return kw.parse_api_versions_v3(kw.recv_response(s))
    finally:
        s.close()


def update(broker, version, updates, validate_only=False):
    s = kw.connect(broker.port)
    try:
        s.sendall(kw.update_features(7, version, updates, validate_only))
        return kw.parse_update_features(kw.recv_response(s, timeout=30), version)
    finally:
        s.close()


def features_tool(broker, *args):
    r = kafka_tools_run.run(FEATURES, ["--bootstrap-server", broker.bootstrap] + list(args),
                            timeout=TOOL_TIMEOUT)
    return r.returncode, r.stdout, r.stderr


def tv_line(broker):
    """kafka-features.sh describe's line for transaction.version, and its epoch."""
    rc, out, err = features_tool(broker, "describe")
    assert rc == 0, (out, err)
    lines = [l for l in out.splitlines() if l.startswith("Feature: %s " % TV)]
    assert len(lines) == 1, out
    head, epoch = lines[0].rsplit("Epoch: ", 1)
    return head, int(epoch)


def describe_head(level):
    """The line as Kafka 4.4's tool prints it (columns padded with spaces)
    up to the epoch."""
    return ("Feature: %-40s  SupportedMinVersion: %-15s  SupportedMaxVersion: %-15s  "
            "FinalizedVersionLevel: %-15s  " % (TV, "0", "2", level))


def finalized_tv(broker):
    av = api_versions(broker)
    assert av["error"] == 0
    return av["finalized"].get(TV), av["epoch"]


def test_fresh_broker_finalizes_transaction_version_2(broker):
    for v in (4, 5):
        av = api_versions(broker, v)
        assert av["error"] == 0
        assert av["supported"].get(TV) == (0, 2), av["supported"]
        assert av["finalized"].get(TV) == (2, 2), av["finalized"]
        assert av["epoch"] >= 0
        assert av["apis"].get(57) == (0, 2), "UpdateFeatures v0-2"
    av = api_versions(broker, 3)
    assert TV not in av["supported"], "Kafka leaves a feature whose range starts at 0 out of v3"
    assert av["finalized"].get(TV) == (2, 2) and av["epoch"] >= 0
    for v in (0, 1, 2):
        s = kw.connect(broker.port)
        try:
            s.sendall(kw.api_versions(1, v))
            corr, err, apis = kw.parse_api_versions_v0(kw.recv_response(s))
        finally:
            s.close()
        assert err == 0 and apis[18][1] >= 3


def test_kafka_features_describe(broker):
    _, epoch = finalized_tv(broker)
    head, tool_epoch = tv_line(broker)
    assert head == describe_head(2)
    assert tool_epoch >= epoch  # Kafka's grows by itself (its controller's no-op records)


def test_kafka_features_downgrade_disable_upgrade(broker):
    level, epoch = finalized_tv(broker)
    assert level == (2, 2)
    steps = [
        (("downgrade", "--feature", "%s=1" % TV), "%s was downgraded to 1.\n" % TV, (1, 1), 1),
        (("disable", "--feature", TV), "%s was disabled.\n" % TV, None, 0),
        (("upgrade", "--feature", "%s=2" % TV), "%s was upgraded to 2.\n" % TV, (2, 2), 2),
    ]
    for args, said, want, describe_level in steps:
        rc, out, err = features_tool(broker, *args)
        assert (rc, out) == (0, said), (args, out, err)
        now, now_epoch = finalized_tv(broker)
        assert now == want, (args, now)
        assert now_epoch > epoch, "the finalized epoch must grow: %d then %d" % (epoch, now_epoch)
        epoch = now_epoch
        av = api_versions(broker)
        assert av["supported"].get(TV) == (0, 2)  # disabled is still supported
        head, _ = tv_line(broker)
        assert head == describe_head(describe_level)


def test_kafka_features_refusals(broker):
    cases = [
        (("upgrade", "--feature", "%s=3" % TV),
         "Could not upgrade %s to 3. %sInvalid update version 3 for feature %s. Local controller 1 only "
         "supports versions 0-2\n" % (TV, PREFIX, TV)),
        (("upgrade", "--feature", "foo.bar=1"),
         "Could not upgrade foo.bar to 1. %sInvalid update version 1 for feature foo.bar. Local controller "
         "1 does not support this feature.\n" % PREFIX),
        (("upgrade", "--feature", "%s=1" % TV),
         "Could not upgrade %s to 1. %sInvalid update version 1 for feature %s. Can't downgrade the version "
         "of this feature without setting the upgrade type to either safe or unsafe downgrade.\n"
         % (TV, PREFIX, TV)),
    ]
    foo = "%sInvalid update version 1 for feature foo.bar. Local controller 1 does not support this feature." \
        % PREFIX
    cases += [
        # Kafka's range of a feature it does not know is 0-0: disabling one
        # fails later, when the feature is looked up
        (("disable", "--feature", "foo.bar"),
         "Could not disable foo.bar. %sInvalid update version 0 for feature foo.bar. Feature foo.bar not "
         "found.\n" % PREFIX),
        # one refused refuses all, each with its reason; the tool prints them sorted
        (("upgrade", "--feature", "%s=2" % TV, "--feature", "foo.bar=1"),
         "Could not upgrade foo.bar to 1. %s\nCould not upgrade %s to 2. %s\n" % (foo, TV, foo)),
    ]
    for args, said in cases:
        rc, out, err = features_tool(broker, *args)
        assert (rc, out) == (1, said), (args, out, err)
        n = said.count("\n")
        assert err.strip().splitlines()[-1] == "%d out of %d operation(s) failed." % (n, n), err
    rc, out, err = features_tool(broker, "downgrade", "--feature", "%s=1" % TV, "--dry-run")
    assert (rc, out) == (0, "%s can be downgraded to 1.\n" % TV), (out, err)
    rc, out, err = features_tool(broker, "downgrade", "--feature", "%s=1" % TV, "--unsafe", "--dry-run")
    assert (rc, out) == (0, "%s can be downgraded to 1.\n" % TV), (out, err)
    assert finalized_tv(broker)[0] == (2, 2)


def test_update_features_raw(broker):
    # validate_only: accepted, nothing changes; a result per feature in v0-1
    assert update(broker, 1, [(TV, 1, 2)], validate_only=True) == (0, None, [(TV, 0, "NONE")])
    assert update(broker, 2, [(TV, 0, 3)], validate_only=True) == (0, None, [])
    assert update(broker, 1, [], validate_only=True) == (0, None, [])
    assert finalized_tv(broker)[0] == (2, 2)
    # refused: the whole request, at the top level, no results
    for version, upd, why in [
        (1, [(TV, 1, 0)], "Invalid update version 1 for feature %s. The controller does not support the "
                          "given upgrade type." % TV),
        (2, [(TV, -1, 1)], "Invalid update version -1 for feature %s. A feature version cannot be less "
                           "than 0." % TV),
        (1, [(TV, 1, 2), ("foo", 1, 1)], "Invalid update version 1 for feature foo. Local controller 1 "
                                         "does not support this feature."),
        # v0's allow_downgrade is not acted on by Kafka 4.4: still an upgrade
        (0, [(TV, 1, 2)], "Invalid update version 1 for feature %s. Can't downgrade the version of this "
                          "feature without setting the upgrade type to either safe or unsafe downgrade."
         % TV),
    ]:
        assert update(broker, version, upd, validate_only=True) == \
            (INVALID_UPDATE_VERSION, PREFIX + why, []), (version, upd)
    assert finalized_tv(broker)[0] == (2, 2)
    # v0 has no validate_only: the same level is written again
    level, epoch = finalized_tv(broker)
    assert update(broker, 0, [(TV, 2, 1)]) == (0, None, [(TV, 0, "NONE")])
    now, now_epoch = finalized_tv(broker)
    assert now == (2, 2) and now_epoch > epoch
    # a safe downgrade to 1 (v2); from there a "downgrade" to 2 is refused; then back
    assert update(broker, 2, [(TV, 1, 2)]) == (0, None, [])
    assert finalized_tv(broker)[0] == (1, 1)
    assert update(broker, 2, [(TV, 2, 2)], validate_only=True) == \
        (INVALID_UPDATE_VERSION, PREFIX + "Invalid update version 2 for feature %s. Can't downgrade to a "
         "newer version." % TV, [])
    assert update(broker, 2, [(TV, 2, 1)]) == (0, None, [])
    assert finalized_tv(broker)[0] == (2, 2)


def test_level_survives_restart(broker):
    assert update(broker, 2, [(TV, 1, 2)]) == (0, None, [])
    level, epoch = finalized_tv(broker)
    assert level == (1, 1)
    broker.restart()
    now, now_epoch = finalized_tv(broker)
    assert now == (1, 1)
    assert now_epoch >= epoch


@pytest.mark.gregor_only("Gregor's metadata snapshot settings and files")
def test_level_survives_restart_from_snapshot(start_broker):
    b = start_broker(metadata__log__max__record__bytes__between__snapshots=1)
    assert update(b, 2, [(TV, 0, 3)]) == (0, None, [])
    level, epoch = finalized_tv(b)
    assert level is None and epoch >= 0
    assert update(b, 2, [(TV, 1, 1)]) == (0, None, [])
    level, epoch = finalized_tv(b)
    assert level == (1, 1)
    snaps = sorted((b.data_dir / "__cluster_metadata-0").glob("*.checkpoint"))
    assert snaps, "no metadata snapshot was written"
    b.restart()
    assert "loaded the metadata snapshot" in b.log_text()
    now, now_epoch = finalized_tv(b)
    assert now == (1, 1) and now_epoch >= epoch


def _old_metadata_log(data_dir):
    """A metadata log as Gregor wrote it before it knew transaction.version:
    records, none of them a FeatureLevelRecord (here one ProducerIdsRecord,
    Kafka's frame: frame version 1, api key 15, version 0, its flexible body)."""
    frame = (kw.uvarint(1) + kw.uvarint(15) + kw.uvarint(0)
             + struct.pack(">iqq", 1, 0, 1000) + b"\x00")
    batch = bytearray(kw.record_batch([(None, frame, ())]))
    batch[12:16] = struct.pack(">i", 0)  # partitionLeaderEpoch 0 (not in the CRC)
    d = data_dir / "__cluster_metadata-0"
    d.mkdir(parents=True)
    (d / ("%020d.log" % 0)).write_bytes(bytes(batch))


@pytest.mark.gregor_only("a data directory written by Gregor before transaction.version")
def test_old_metadata_log_stays_at_transactions_v1(tmp_path, request):
    from conftest import Broker
    b = Broker(tmp_path / "old")
    _old_metadata_log(b.data_dir)
    try:
        b.start()
        av = api_versions(b)
        assert av["supported"].get(TV) == (0, 2)
        assert TV not in av["finalized"], "an upgraded cluster keeps transactions V1"
        assert av["epoch"] >= 1  # the old record and this start's registration
        b.restart()
        assert TV not in api_versions(b)["finalized"]
        rc, out, err = features_tool(b, "upgrade", "--feature", "%s=2" % TV)
        assert (rc, out) == (0, "%s was upgraded to 2.\n" % TV), (out, err)
        assert finalized_tv(b)[0] == (2, 2)
    finally:
        b.kill9()
        if any(getattr(request.node, "rep_" + w, None) is not None and getattr(request.node, "rep_" + w).failed
               for w in ("setup", "call")):
            print(b.log_tail(all_runs=True))


@pytest.mark.gregor_only("Gregor's bin/kafka-features.sh shim")
def test_shim_prints_what_kafkas_tool_prints(broker):
    from conftest import GREGOR_BIN, REPO
    env = dict(os.environ, GREGOR_BIN=GREGOR_BIN)

    def shim(*args):
        r = subprocess.run([str(REPO / "bin" / "kafka-features.sh"), "--bootstrap-server", broker.bootstrap]
                           + list(args), capture_output=True, text=True, env=env, timeout=TOOL_TIMEOUT)
        return r.returncode, r.stdout, r.stderr

    for args in [("describe",),
                 ("downgrade", "--feature", "%s=1" % TV),
                 ("describe",),
                 ("downgrade", "--feature", "%s=0" % TV, "--unsafe", "--dry-run"),
                 ("upgrade", "--feature", "%s=2" % TV, "--dry-run"),
                 ("upgrade", "--feature", "%s=3" % TV),
                 ("upgrade", "--feature", "%s=2" % TV, "--feature", "foo.bar=1"),
                 ("disable", "--feature", "foo.bar"),
                 ("disable", "--feature", TV),
                 ("describe",),
                 ("upgrade", "--feature", "%s=x" % TV),
                 ("upgrade", "--feature", "%s" % TV),
                 ("upgrade", "--feature", "%s=-1" % TV),
                 ("upgrade", "--feature", "a=1", "--feature", "a=2"),
                 ("upgrade",),
                 ("upgrade", "--feature", "%s=2" % TV),
                 ("describe",)]:
        mine = shim(*args)
        kafkas = features_tool(broker, *args)
        assert mine == kafkas, "kafka-features.sh %s:\ngregor %r\nkafka  %r" % (" ".join(args), mine, kafkas)
    assert finalized_tv(broker)[0] == (2, 2)
