package dev.gregor.javaclient;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * One fresh broker process on a free loopback port: Gregor (build/gregor) or
 * the reference Apache Kafka (tests/reference/kafkaref.py), chosen by the
 * system property {@code broker}. Stopped by {@link #close()} and, should the
 * JVM end first, by a shutdown hook, so no broker outlives the run.
 */
public final class Broker implements AutoCloseable {
    public enum Kind { GREGOR, KAFKA }

    private static final long START_TIMEOUT_MS = 120_000;
    private static final long STOP_TIMEOUT_MS = 45_000;

    public final Kind kind;
    public final String bootstrap;
    private final Path dir;
    private final Process gregor;   // null for Kafka (kafkaref.py detaches it)
    private final Map<String, String> overrides;
    private final Thread hook;
    private boolean closed;

    public static Kind kind() {
        String b = System.getProperty("broker", "gregor");
        switch (b) {
            case "gregor": return Kind.GREGOR;
            case "kafka": return Kind.KAFKA;
            default: throw new IllegalArgumentException("-Dbroker must be gregor or kafka, got " + b);
        }
    }

    public static boolean isGregor() {
        return kind() == Kind.GREGOR;
    }

    static Path repo() {
        String r = System.getProperty("repo");
        if (r == null) throw new IllegalStateException("system property repo (the Gregor checkout) is not set");
        return Path.of(r).toAbsolutePath().normalize();
    }

    /** testClass names the requests Gregor counts for the compatibility ledger. */
    public static Broker start(String testClass) throws Exception {
        return new Broker(kind(), testClass, Map.of());
    }

    /**
     * With broker settings beside the defaults, in Kafka's property names
     * (Gregor takes the same): {@code --override key=value} for either broker.
     */
    public static Broker start(String testClass, Map<String, String> overrides) throws Exception {
        return new Broker(kind(), testClass, overrides);
    }

    private Broker(Kind kind, String testClass, Map<String, String> overrides) throws Exception {
        this.kind = kind;
        this.overrides = new TreeMap<>(overrides);
        this.dir = Files.createTempDirectory("gregor-java-" + kind.name().toLowerCase() + "-");
        Process p = null;
        String boot;
        if (kind == Kind.GREGOR) {
            int port = freePort();
            Path bin = repo().resolve("build/gregor");
            if (!Files.isExecutable(bin)) throw new IllegalStateException(bin + " is not built");
            List<String> cmd = new ArrayList<>(List.of(bin.toString(), "server",
                    "--override", "listeners=PLAINTEXT://127.0.0.1:" + port,
                    "--override", "log.dirs=" + dir.resolve("data"),
                    "--override", "node.id=1",
                    "--override", "group.initial.rebalance.delay.ms=0"));
            for (Map.Entry<String, String> o : this.overrides.entrySet()) {
                cmd.add("--override");
                cmd.add(o.getKey() + "=" + o.getValue());
            }
            ProcessBuilder pb = new ProcessBuilder(cmd);
            pb.redirectErrorStream(true);
            pb.redirectOutput(dir.resolve("gregor.log").toFile());
            // With GREGOR_REQUEST_STATS set (scripts/test), gregor counts the
            // requests it serves by client software; this names the test.
            pb.environment().put("GREGOR_TEST_CONTEXT", "java:" + testClass);
            p = pb.start();
            boot = "127.0.0.1:" + port;
        } else {
            boot = null;
        }
        this.gregor = p;
        this.hook = new Thread(this::stopQuietly, "broker-stop");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            if (kind == Kind.GREGOR) {
                waitForPort(p, Integer.parseInt(boot.substring(boot.lastIndexOf(':') + 1)));
            } else {
                boot = startKafka();
            }
        } catch (Exception e) {
            stopQuietly();
            throw e;
        }
        this.bootstrap = boot;
    }

    private String startKafka() throws Exception {
        List<String> args = new ArrayList<>(List.of("start", "--dir", dir.resolve("kafka").toString(), "--heap", "512m"));
        for (Map.Entry<String, String> o : overrides.entrySet()) {
            args.add("--override");
            args.add(o.getKey() + "=" + o.getValue());
        }
        List<String> out;
        try {
            out = runPython(args, START_TIMEOUT_MS);
        } catch (IllegalStateException e) {
            // kafkaref.py passes its random cluster id as "-t ID"; an id that starts
            // with '-' (1 in 64) is taken for an option by kafka-storage. Retried
            // once, loudly, until kafkaref.py passes it as --cluster-id=ID.
            if (!String.valueOf(e.getMessage()).contains("argument --cluster-id/-t: expected one argument")) throw e;
            System.err.println("kafkaref.py start: cluster id taken for an option; starting again");
            out = runPython(args, START_TIMEOUT_MS);
        }
        for (String line : out) {
            if (line.startsWith("bootstrap.servers=")) return line.substring("bootstrap.servers=".length()).trim();
        }
        throw new IllegalStateException("kafkaref.py start printed no bootstrap.servers line: " + out);
    }

    private List<String> runPython(List<String> args, long timeoutMs) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add("python3");
        cmd.add(repo().resolve("tests/reference/kafkaref.py").toString());
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        Process p = pb.start();
        List<String> lines = new ArrayList<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                String l;
                while ((l = r.readLine()) != null) {
                    synchronized (lines) { lines.add(l); }
                }
            } catch (IOException ignored) {
                // the process went away; what was read is kept
            }
        });
        reader.setDaemon(true);
        reader.start();
        if (!p.waitFor(timeoutMs, TimeUnit.MILLISECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException("kafkaref.py " + args + " did not finish in " + timeoutMs + " ms");
        }
        reader.join(5_000);
        synchronized (lines) {
            if (p.exitValue() != 0) {
                throw new IllegalStateException("kafkaref.py " + args + " exited " + p.exitValue() + ": " + lines);
            }
            return new ArrayList<>(lines);
        }
    }

    private void waitForPort(Process p, int port) throws Exception {
        long deadline = System.currentTimeMillis() + 30_000;
        while (System.currentTimeMillis() < deadline) {
            if (!p.isAlive()) {
                throw new IllegalStateException("gregor exited with " + p.exitValue() + ": " + logTail());
            }
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 500);
                return;
            } catch (IOException notYet) {
                Thread.sleep(50);
            }
        }
        throw new IllegalStateException("gregor did not accept on port " + port + " in 30 s: " + logTail());
    }

    public String logTail() {
        Path log = kind == Kind.GREGOR ? dir.resolve("gregor.log") : dir.resolve("kafka/node-1/server.log");
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress("127.0.0.1", 0));
            return s.getLocalPort();
        }
    }

    private synchronized void stopQuietly() {
        if (closed) return;
        closed = true;
        try {
            if (gregor != null) {
                gregor.destroy();   // SIGTERM: a clean shutdown
                if (!gregor.waitFor(STOP_TIMEOUT_MS, TimeUnit.MILLISECONDS)) {
                    gregor.destroyForcibly();
                    gregor.waitFor(10, TimeUnit.SECONDS);
                }
            } else {
                runPython(List.of("stop", "--dir", dir.resolve("kafka").toString()), STOP_TIMEOUT_MS + 15_000);
            }
        } catch (Exception e) {
            System.err.println("broker stop failed: " + e);
        }
        deleteTree(dir);
    }

    private static void deleteTree(Path root) {
        try (Stream<Path> s = Files.walk(root)) {
            s.sorted(Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
        } catch (IOException ignored) {
            // a temporary folder left behind is harmless
        }
    }

    @Override
    public void close() {
        stopQuietly();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // already in shutdown: the hook has run or will
        }
    }
}
