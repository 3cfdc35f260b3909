package dev.gregor.javaclient;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.function.Executable;

/**
 * Strict expected failures. Against Apache Kafka the body simply runs and must
 * pass. Against Gregor the body must throw, and somewhere in the thrown
 * exception's cause chain there must be an exception whose
 * {@code toString()} ("class: message") is exactly the given text. The day
 * the body passes on Gregor, or fails differently, the test turns red.
 */
public final class Expect {
    /** One expected failure seen in this run: the test and the client's error. */
    public record Seen(String test, String error) { }

    private static final List<Seen> SEEN = new ArrayList<>();
    private static volatile boolean inCurrentTest;
    private static volatile String currentTest = "?";

    private Expect() { }

    public static void gregorFails(String exactError, Executable body) throws Throwable {
        if (!Broker.isGregor()) {
            body.execute();
            return;
        }
        Throwable thrown = null;
        try {
            body.execute();
        } catch (Throwable t) {
            thrown = t;
        }
        if (thrown == null) {
            fail("now passes on Gregor: remove the expected-failure mark (expected: " + exactError + ")");
        }
        for (Throwable t = thrown; t != null; t = t.getCause()) {
            if (t.toString().equals(exactError)) {
                synchronized (SEEN) {
                    SEEN.add(new Seen(currentTest, exactError));
                }
                inCurrentTest = true;
                return;
            }
        }
        AssertionError e = new AssertionError("expected failure on Gregor with\n  " + exactError
                + "\nbut the error was\n  " + chain(thrown));
        e.initCause(thrown);
        throw e;
    }

    static String chain(Throwable thrown) {
        StringBuilder sb = new StringBuilder();
        for (Throwable t = thrown; t != null; t = t.getCause()) {
            if (sb.length() > 0) sb.append("\n  caused by ");
            sb.append(t);
        }
        return sb.toString();
    }

    // Called by the summary listener around each test.
    static void startTest(String name) {
        currentTest = name;
        inCurrentTest = false;
    }

    static boolean expectedFailureInCurrentTest() {
        return inCurrentTest;
    }

    static List<Seen> seen() {
        synchronized (SEEN) {
            return new ArrayList<>(SEEN);
        }
    }
}
