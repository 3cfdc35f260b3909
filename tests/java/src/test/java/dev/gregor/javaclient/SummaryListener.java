package dev.gregor.javaclient;

import java.util.ArrayList;
import java.util.List;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.TestPlan;

/**
 * Prints one line per run, like the integration suite's:
 * {@code java driver, broker=gregor: N passed, M failed, K expected failures},
 * then each expected failure with the client's exact error. A test that met
 * its expected failure counts as an expected failure, not as passed.
 * Registered through META-INF/services.
 */
public class SummaryListener implements TestExecutionListener {
    private int passed;
    private int failed;
    private int expected;
    private final List<String> failures = new ArrayList<>();

    private static String name(TestIdentifier id) {
        // "[engine:junit-jupiter]/[class:...ProducerTest]/[method:x()]" -> "ProducerTest.x()" plus parameters
        String uid = id.getUniqueId();
        String cls = uid.replaceAll(".*\\[class:(?:[^\\]]*\\.)?([^\\].]+)\\].*", "$1");
        return cls + " " + id.getDisplayName();
    }

    @Override
    public void executionStarted(TestIdentifier id) {
        if (id.isTest()) Expect.startTest(name(id));
    }

    @Override
    public void executionSkipped(TestIdentifier id, String reason) {
        // Nothing here is meant to be skipped: a skip counts as a failure.
        if (id.isTest()) {
            failed++;
            failures.add(name(id) + " (skipped: " + reason + ")");
        }
    }

    @Override
    public void executionFinished(TestIdentifier id, TestExecutionResult result) {
        if (!id.isTest()) {
            if (result.getStatus() != TestExecutionResult.Status.SUCCESSFUL && id.getParentId().isPresent()) {
                // a class whose broker did not start: its tests never ran
                failed++;
                failures.add(name(id) + " (container: " + result.getThrowable().map(Object::toString).orElse("?") + ")");
            }
            return;
        }
        if (result.getStatus() == TestExecutionResult.Status.SUCCESSFUL) {
            if (Expect.expectedFailureInCurrentTest()) expected++;
            else passed++;
        } else {
            failed++;
            failures.add(name(id));
        }
    }

    @Override
    public void testPlanExecutionFinished(TestPlan plan) {
        StringBuilder sb = new StringBuilder("\n");
        for (Expect.Seen s : Expect.seen()) {
            sb.append("expected failure: ").append(s.test()).append("\n    ").append(s.error()).append('\n');
        }
        for (String f : failures) sb.append("FAILED: ").append(f).append('\n');
        sb.append(String.format("java driver, broker=%s: %d passed, %d failed, %d expected failures%n",
                System.getProperty("broker", "gregor"), passed, failed, expected));
        System.out.print(sb);
        System.out.flush();
        writeExpectedFailures();
    }

    /** For the compatibility ledger (scripts/compat): with GREGOR_TEST_RESULTS
     *  set, the expected failures of a Gregor run as JSON. */
    private static void writeExpectedFailures() {
        String dir = System.getenv("GREGOR_TEST_RESULTS");
        if (dir == null || dir.isEmpty() || !"gregor".equals(System.getProperty("broker", "gregor"))) return;
        StringBuilder js = new StringBuilder("[");
        for (Expect.Seen s : Expect.seen()) {
            if (js.length() > 1) js.append(',');
            js.append("{\"test\":").append(quote("tests/java " + s.test()))
              .append(",\"reason\":").append(quote("the Java client 4.4.0 against Gregor"))
              .append(",\"error\":").append(quote(s.error())).append('}');
        }
        js.append("]\n");
        try {
            java.nio.file.Files.createDirectories(java.nio.file.Path.of(dir));
            java.nio.file.Files.writeString(java.nio.file.Path.of(dir, "expected-failures-java.json"), js);
        } catch (java.io.IOException e) {
            System.err.println("cannot write expected failures to " + dir + ": " + e);
        }
    }

    private static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }
}
