// The runtime of a Java hold program: one JVM per (column, version) per run, every cell of that
// column version in it (the protocol: clients/README.md, "Runtimes"). clients/setup.sh compiles
// this file with Contract.java and the client's own Hold.java into each version's classes, and
// writes target/clients/<name>/<version>/runtime, which execs `java ... Runtime`.
//
// It listens on 127.0.0.1, port 0, and prints `runtime: 127.0.0.1:PORT` once ready. Each TCP
// connection is a cell: the harness writes the cell's environment as `NAME=VALUE` lines and an
// empty line; a thread of its own runs Hold.run with it, every line the hold program would print
// is written back, then `exit: N`, and the connection is closed. The harness ending a cell
// closes its side: the cell's client connections are then closed at once (abruptly, as a
// killed process's are), its thread interrupted, and nothing more is written. A bad header gets
// `error: <what>` and `exit: 2`. EOF on stdin (the harness is gone) ends the JVM at once.
//
// The class is named for the protocol, in the default package beside Hold and Contract; it
// shadows java.lang.Runtime there, which is named in full below.

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

public final class Runtime {
    /** The most a header may take before its empty line. */
    private static final int HEADER_MAX = 64 * 1024;
    /** Cells served so far, for thread names. */
    private static final AtomicLong CELLS = new AtomicLong();

    private Runtime() {}

    public static void main(String[] args) throws IOException {
        ServerSocket server = new ServerSocket(0, 256, InetAddress.getByName("127.0.0.1"));
        System.out.println("runtime: 127.0.0.1:" + server.getLocalPort());
        System.out.flush();
        // After the ready line: a probe with stdin at its end still reads it.
        Thread stdin = new Thread(Runtime::untilStdinEnds, "stdin");
        stdin.setDaemon(true);
        stdin.start();
        while (true) {
            Socket connection = server.accept();
            Thread t = new Thread(() -> serve(connection), "cell-" + CELLS.incrementAndGet());
            t.setDaemon(true);
            t.start();
        }
    }

    /** Reads stdin to its end, then ends the JVM at once: the harness holding it is gone. */
    private static void untilStdinEnds() {
        byte[] buf = new byte[4096];
        try {
            while (System.in.read(buf) >= 0) {
                // the harness writes nothing; its end is the message
            }
        } catch (IOException e) {
            // a broken stdin is an ended one
        }
        java.lang.Runtime.getRuntime().halt(0);
    }

    /** One cell's connection: a sink of lines that goes quiet once the cell has ended. */
    private static final class Connection implements Contract.Sink {
        private final Socket socket;
        private final OutputStream out;
        private boolean over;

        Connection(Socket socket) throws IOException {
            this.socket = socket;
            this.out = socket.getOutputStream();
        }

        @Override
        public synchronized void out(String line) {
            if (over) {
                return;
            }
            try {
                out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            } catch (IOException e) {
                over = true;
            }
        }

        @Override
        public void err(String line) {
            out(line);
        }

        /** Writes `exit: N` and closes, unless the cell ended already; false then. */
        synchronized boolean exit(int status) {
            if (over) {
                return false;
            }
            out("exit: " + status);
            over = true;
            close();
            return true;
        }

        /** The harness ended the cell: nothing more is written. False if it had exited. */
        synchronized boolean cancel() {
            boolean was = !over;
            over = true;
            close();
            return was;
        }

        private void close() {
            try {
                socket.close();
            } catch (IOException e) {
                // closed either way
            }
        }
    }

    private static void serve(Socket socket) {
        Connection connection;
        InputStream in;
        try {
            socket.setTcpNoDelay(true);
            connection = new Connection(socket);
            in = new BufferedInputStream(socket.getInputStream());
        } catch (IOException e) {
            try {
                socket.close();
            } catch (IOException ignored) {
                // nothing to serve
            }
            return;
        }
        Map<String, String> env = new HashMap<>();
        String bad = header(in, env);
        if (bad == null && !env.containsKey("MATRIX_URL")) {
            bad = "the header has no MATRIX_URL";
        }
        if (bad != null) {
            connection.err("error: " + bad);
            connection.exit(2);
            return;
        }
        Contract.Cell cell = new Contract.Cell(env, connection, true);
        Thread body = new Thread(() -> {
            int status;
            try {
                status = Contract.run(cell, Hold::run);
            } catch (Throwable t) {
                // An uncaught exception in the cell's code is that cell's end, and no other's.
                connection.err("error: " + Contract.oneLine(String.valueOf(t)));
                status = 1;
            }
            // As a process exit would: the client's connections go before the exit is told.
            cell.end();
            connection.exit(status);
        }, Thread.currentThread().getName() + " " + env.getOrDefault("MATRIX_CLIENT_ID", ""));
        body.setDaemon(true);
        body.start();
        // The harness ends the cell by closing its side: wait for that (or for our own close).
        try {
            byte[] buf = new byte[256];
            while (in.read(buf) >= 0) {
                // nothing more is expected from the harness
            }
        } catch (IOException e) {
            // closed: by us after `exit:`, or by the harness
        }
        if (connection.cancel()) {
            cell.end();
            body.interrupt();
        }
    }

    /** Reads `NAME=VALUE` lines up to an empty line into `env`; null, or what is wrong. */
    private static String header(InputStream in, Map<String, String> env) {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        int total = 0;
        int number = 1;
        try {
            while (true) {
                int b = in.read();
                if (b < 0) {
                    return "the header ended before its empty line";
                }
                if (++total > HEADER_MAX) {
                    return "no empty line within the header's " + HEADER_MAX + " bytes";
                }
                if (b != '\n') {
                    line.write(b);
                    continue;
                }
                String text = new String(line.toByteArray(), StandardCharsets.UTF_8);
                line.reset();
                if (text.isEmpty()) {
                    return null;
                }
                int eq = text.indexOf('=');
                if (eq <= 0) {
                    return "header line " + number + " is not NAME=VALUE: \"" + text + "\"";
                }
                env.put(text.substring(0, eq), text.substring(eq + 1));
                number++;
            }
        } catch (IOException e) {
            return "reading the header: " + e;
        }
    }
}
