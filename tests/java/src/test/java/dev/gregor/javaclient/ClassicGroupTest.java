package dev.gregor.javaclient;

import org.junit.jupiter.api.function.Executable;

/** The group scenarios with group.protocol=classic (JoinGroup/SyncGroup/Heartbeat). */
class ClassicGroupTest extends GroupScenarios {
    @Override
    protected String protocol() {
        return "classic";
    }

    @Override
    protected void scenario(Executable body) throws Throwable {
        body.execute();
    }
}
