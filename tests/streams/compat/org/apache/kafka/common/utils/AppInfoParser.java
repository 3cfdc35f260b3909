/*
 * A bridge for connect-file 4.3.1 on the 4.4.0 classpath (used only by
 * tests/integration/test_connect.py, put on the Connect worker's classpath).
 *
 * tests/reference/pom.xml pins connect-file at 4.3.1 because 4.4.0 of that
 * one artifact is not served here. Its FileStreamSourceConnector and
 * FileStreamSinkConnector call org.apache.kafka.common.utils.AppInfoParser
 * .getVersion() from version(); kafka-clients 4.4.0 moved that class to
 * org.apache.kafka.common.utils.internals, so without this bridge the worker
 * fails with NoClassDefFoundError: org/apache/kafka/common/utils/AppInfoParser
 * when it validates the connector config. That call is the only reference
 * of the four connect-file classes that 4.4.0 lacks (checked with javap).
 * Delete this file once connect-file 4.4.0 is pinned.
 */
package org.apache.kafka.common.utils;

public final class AppInfoParser {
    private AppInfoParser() {
    }

    public static String getVersion() {
        return org.apache.kafka.common.utils.internals.AppInfoParser.getVersion();
    }
}
