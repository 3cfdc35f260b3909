package dev.gregor.javaclient;

import org.junit.jupiter.api.function.Executable;

/**
 * The group scenarios with group.protocol=consumer (KIP-848,
 * ConsumerGroupHeartbeat). Apache Kafka 4.x serves it; Gregor does not yet,
 * so on Gregor each scenario is a strict expected failure.
 */
class ConsumerProtocolGroupTest extends GroupScenarios {
    static final String GREGOR_ERROR = "org.apache.kafka.common.errors.UnsupportedVersionException:"
            + " The cluster does not support the new CONSUMER group protocol. Set group.protocol=classic"
            + " on the consumer configs to revert to the CLASSIC protocol until the cluster is upgraded.";

    @Override
    protected String protocol() {
        return "consumer";
    }

    @Override
    protected void scenario(Executable body) throws Throwable {
        Expect.gregorFails(GREGOR_ERROR, body);
    }
}
