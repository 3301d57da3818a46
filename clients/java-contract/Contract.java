// The command-client contract's plumbing shared by the Java hold programs (clients/paho-java,
// clients/paho-java-v5, clients/hivemq): clients/setup.sh compiles this file into each of them,
// beside its Hold.java and Runtime.java. No client library is named here.
//
// A hold program's body is `Hold.run(Cell)`: a function of one cell (its environment, where its
// lines go, and its cancel) returning the exit status. `Hold.main` runs it once on the process
// environment and stdout/stderr, then exits with the status (`main` below); the runtime
// (Runtime.java) runs it once per TCP connection, many at a time in one JVM. So the body keeps
// no per-cell state in statics, and never calls System.exit: a contract end (`lost:`,
// `refused:`, `error:`) is thrown as an Exit carrying the status.

import java.io.Closeable;
import java.io.FileInputStream;
import java.io.FilterInputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.net.SocketException;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.jar.Manifest;

import javax.net.SocketFactory;
import javax.net.ssl.HandshakeCompletedListener;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSession;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManagerFactory;

final class Contract {
    private Contract() {}

    /** How many times faster than real time this process's clock runs: the N of libfaketime's
     *  FAKETIME="+0 xN" that an accelerated run preloads; 1 otherwise. A process-wide fact: the
     *  runtime gets the same preload as a per-process cell. */
    static final long SPEED = speed(System.getenv("FAKETIME"));

    private static long speed(String faketime) {
        if (faketime == null) {
            return 1;
        }
        int x = faketime.indexOf('x');
        try {
            return x < 0 ? 1 : Math.max(1, Math.round(Double.parseDouble(faketime.substring(x + 1).trim())));
        } catch (NumberFormatException e) {
            return 1;
        }
    }

    /** Where a cell's lines go: stdout and stderr of the process, or the runtime's connection. */
    interface Sink {
        /** A contract line (`client:`, `lost:`, `refused:`, `done:`). */
        void out(String line);

        /** A line the program would print on stderr (`error: …`). */
        void err(String line);
    }

    /** A blocking library call. */
    interface Call {
        /** Makes the call; what it throws is its answer. */
        void run() throws Exception;
    }

    /** A hold program's body: one cell in, its exit status out. */
    interface Body {
        /** Runs the cell; returns the status, or throws an Exit. */
        int run(Cell cell);
    }

    /** The end of a cell with an exit status, its line already written. */
    static final class Exit extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final int status;

        Exit(int status) {
            super("exit " + status, null, false, false);
            this.status = status;
        }
    }

    /** One cell: its environment, its lines, and what ends its connections when it is
     *  cancelled (the runtime's harness closed the cell) or has ended. */
    static final class Cell {
        private final Map<String, String> env;
        private final Sink sink;
        /** True in the runtime: sockets are made by a factory that records them, so that a
         *  cancel can close them; a per-process cell keeps the library's own sockets. */
        final boolean shared;
        private final List<Closeable> open = new ArrayList<>();
        private final List<Runnable> onEnd = new ArrayList<>();
        private boolean ended;

        Cell(Map<String, String> env, Sink sink, boolean shared) {
            this.env = env;
            this.sink = sink;
            this.shared = shared;
        }

        void out(String line) {
            sink.out(line);
        }

        /** `error: <message>` on the error stream; status 2 (a bad environment, our fault). */
        Exit fail(String message) {
            sink.err("error: " + oneLine(message));
            return new Exit(2);
        }

        /** `lost: <words>`; status 1. */
        Exit lost(String words) {
            sink.out("lost: " + oneLine(words));
            return new Exit(1);
        }

        /** `refused: <words>`; status 1. */
        Exit refused(String words) {
            sink.out("refused: " + oneLine(words));
            return new Exit(1);
        }

        /** The raw value of a variable, null when unset. */
        String raw(String name) {
            return env.get(name);
        }

        String env(String name, String fallback) {
            String v = env.get(name);
            if (v == null || v.isEmpty()) {
                if (fallback != null) {
                    return fallback;
                }
                throw fail(name + " is not set");
            }
            return v;
        }

        double envSecs(String name, String fallback) {
            String raw = env(name, fallback);
            try {
                double v = Double.parseDouble(raw);
                if (v >= 0 && !Double.isInfinite(v)) {
                    return v;
                }
            } catch (NumberFormatException e) {
                // said below
            }
            throw fail(name + "=\"" + raw + "\" is not a non-negative number");
        }

        int envInt(String name) {
            String raw = env(name, null);
            try {
                int v = Integer.parseInt(raw);
                if (v >= 0) {
                    return v;
                }
            } catch (NumberFormatException e) {
                // said below
            }
            throw fail(name + "=\"" + raw + "\" is not a non-negative integer");
        }

        /** Waits up to `nanos` for `f`; null when it did not complete in time. */
        <T> T await(CompletableFuture<T> f, long nanos) {
            return await(f, nanos, e -> fail("waiting: " + e));
        }

        /** As await, with what a failed future (or an interrupt, a cancel) ends the cell with. */
        <T> T await(CompletableFuture<T> f, long nanos, Function<Exception, Exit> failed) {
            try {
                return f.get(Math.max(nanos, 0), TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                return null;
            } catch (InterruptedException | ExecutionException e) {
                throw failed.apply(e);
            }
        }

        /** The second half of a Paho Java session (v3 and v5 alike), from CONNACK (at
         *  `connackAt`, System.nanoTime()): holds for `env.hold` unless `loss` completes first,
         *  publishes once and waits `env.roundTrip` for `echo` (when the message came back),
         *  then disconnects on a thread of its own, waited for as long as the round trip may
         *  take: disconnect() can hang in the library itself (1.1.0: WebSocketReceiver.stop()
         *  joins its reader thread from inside a synchronized block), and the session is proven
         *  by then. Writes the `done:` line; a loss is `lost:` with the library's words. Only
         *  the library's own (checked) exceptions count as its answer. */
        int holdThenRoundTrip(Settings env, long connackAt, CompletableFuture<Throwable> loss, CompletableFuture<Long> echo,
                              Call publish, Call disconnect) {
            long holdEnd = connackAt + (long) (env.hold * 1e9);
            Throwable cause = await(loss, holdEnd - System.nanoTime());
            if (cause != null) {
                throw lost(cause.toString());
            }

            long sent = System.nanoTime();
            try {
                publish.run();
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                cause = loss.getNow(null);
                throw lost(cause != null ? cause.toString() : e.toString());
            }
            long deadline = sent + (long) (env.roundTrip * 1e9);
            Object first = await(CompletableFuture.anyOf(echo, loss), deadline - System.nanoTime());
            if (first instanceof Throwable) {
                throw lost(first.toString());
            }
            if (first == null) {
                throw lost("no round trip within " + env.roundTrip + " s");
            }
            long echoAt = (Long) first;
            CompletableFuture<Throwable> disconnected = new CompletableFuture<>();
            Thread closer = new Thread(() -> {
                try {
                    disconnect.run();
                    disconnected.complete(null);
                } catch (RuntimeException e) {
                    throw e;
                } catch (Exception e) {
                    disconnected.complete(e);
                }
            }, "disconnect");
            closer.setDaemon(true);
            closer.start();
            String note = "";
            try {
                Throwable failed = disconnected.get((long) (env.roundTrip * 1e9), TimeUnit.NANOSECONDS);
                if (failed != null) {
                    // A failing DISCONNECT is still a lost connection.
                    throw lost(failed.toString());
                }
            } catch (TimeoutException e) {
                note = String.format("; the library's disconnect() did not return within %s s", env.roundTrip);
            } catch (InterruptedException | ExecutionException e) {
                throw fail("waiting for disconnect(): " + e);
            }
            out(String.format("done: round trip %.0f ms%s", (echoAt - sent) / 1e6, note));
            return 0;
        }

        /** Runs a library's blocking `subscribe` on a thread of its own and waits for it or for
         *  `loss` (the library's report of a lost connection), whichever comes first: a loss, or
         *  a subscribe that threw, ends the cell with `lost:` (the loss's words when there is
         *  one). A subscribe can wait for good when the connection goes before its SUBACK;
         *  waiting for it alone would then never end. */
        void subscribe(Call subscribe, CompletableFuture<Throwable> loss) {
            CompletableFuture<Exception> subscribed = onThread("subscribe", subscribe);
            await(CompletableFuture.anyOf(subscribed, loss), Long.MAX_VALUE);
            Exception refused = subscribed.getNow(null);
            if (loss.isDone() || refused != null) {
                Throwable gone = loss.getNow(null);
                throw lost(gone != null ? gone.toString() : refused.toString());
            }
        }

        /** A library call that may block for good, on a daemon thread of its own: the future
         *  completes with null, or with what the call threw. The cell's end interrupts it. */
        CompletableFuture<Exception> onThread(String name, Call call) {
            CompletableFuture<Exception> done = new CompletableFuture<>();
            Thread t = new Thread(() -> {
                try {
                    call.run();
                    done.complete(null);
                } catch (Exception e) {
                    done.complete(e);
                }
            }, name);
            t.setDaemon(true);
            t.start();
            onEnd(t::interrupt);
            return done;
        }

        /** Something to close when the cell ends or is cancelled (a socket of the client's);
         *  closed at once if that has happened already. */
        void track(Closeable c) {
            synchronized (this) {
                if (!ended) {
                    open.add(c);
                    return;
                }
            }
            closeQuietly(c);
        }

        /** What else ends the client abruptly (a library without a socket factory). */
        void onEnd(Runnable r) {
            synchronized (this) {
                if (!ended) {
                    onEnd.add(r);
                    return;
                }
            }
            r.run();
        }

        /** Closes every connection of the cell's client, abruptly (no DISCONNECT, no close
         *  frame): what a process exit or a kill does to a per-process cell. Idempotent. */
        void end() {
            List<Closeable> cs;
            List<Runnable> rs;
            synchronized (this) {
                ended = true;
                cs = new ArrayList<>(open);
                rs = new ArrayList<>(onEnd);
                open.clear();
                onEnd.clear();
            }
            for (Closeable c : cs) {
                closeQuietly(c);
            }
            for (Runnable r : rs) {
                try {
                    r.run();
                } catch (RuntimeException e) {
                    // the client is going away: nothing to tell
                }
            }
        }

        /** The socket factory for the library: with `caFile` (MATRIX_CA_FILE) TLS trusting only
         *  its CA (sslSockets), else plain (sockets(), maybe null: the library's default). A CA
         *  file that cannot be read ends the cell with `error:`. */
        SocketFactory socketFactory(String caFile) {
            if (caFile == null || caFile.isEmpty()) {
                return sockets();
            }
            try {
                return sslSockets(trusting(caFile));
            } catch (IOException | GeneralSecurityException e) {
                throw fail("MATRIX_CA_FILE=\"" + caFile + "\": " + e);
            }
        }

        /** A HandshakeGate for one socket of the client's: in a runtime, over WebSocket, where
         *  other cells' Paho clients share the JVM; else null (nothing to keep apart). */
        HandshakeGate gate() {
            return shared && "ws".equals(raw("MATRIX_TRANSPORT")) ? new HandshakeGate() : null;
        }

        /** The factory for plain sockets: in the runtime, one that records its sockets (and
         *  keeps the library's timeouts in real time under a fast clock); in a process, that
         *  only under a fast clock, else null (the library's default). */
        SocketFactory sockets() {
            return shared || SPEED > 1 ? new RealTimeoutSockets(this) : null;
        }

        /** The TLS factory trusting `context`, recorded and scaled as sockets() says. */
        SSLSocketFactory sslSockets(SSLContext context) {
            return shared || SPEED > 1 ? new RealTimeoutSslSockets(context, this) : context.getSocketFactory();
        }
    }

    /** The contract's variables every Java hold program reads, checked in this order (the
     *  first one missing or malformed ends the cell with `error:`, status 2). */
    static final class Settings {
        final String transport;
        final String host;
        final int port;
        final String path;
        final String username;
        /** MATRIX_PASSWORD as given; null when unset. */
        final String password;
        final String clientId;
        final int keepalive;
        final double hold;
        final double roundTrip;
        final String topic;
        /** What the round trip publishes: `alive <client id>`. */
        final byte[] payload;

        Settings(Cell cell) {
            transport = cell.env("MATRIX_TRANSPORT", null);
            host = cell.env("MATRIX_HOST", null);
            port = cell.envInt("MATRIX_PORT");
            path = cell.env("MATRIX_PATH", "/mqtt");
            username = cell.env("MATRIX_USERNAME", null);
            password = cell.raw("MATRIX_PASSWORD");
            clientId = cell.env("MATRIX_CLIENT_ID", null);
            keepalive = cell.envInt("MATRIX_KEEPALIVE_SECS");
            hold = cell.envSecs("MATRIX_HOLD_SECS", null);
            roundTrip = cell.envSecs("MATRIX_ROUND_TRIP_SECS", "10");
            topic = cell.env("MATRIX_TOPIC", null);
            payload = ("alive " + clientId).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        }
    }

    private static void closeQuietly(Closeable c) {
        try {
            c.close();
        } catch (IOException | RuntimeException e) {
            // already closed or broken: either way it is closed
        }
    }

    /** The per-process `main`: stdout/stderr, `--version`, then System.exit with the status. */
    static void main(String[] args, Supplier<String> client, Body body) {
        Sink stdio = new Sink() {
            @Override
            public void out(String line) {
                System.out.println(line);
                System.out.flush();
            }

            @Override
            public void err(String line) {
                System.err.println(line);
                System.err.flush();
            }
        };
        if (Arrays.asList(args).contains("--version")) {
            stdio.out("client: " + client.get());
            System.exit(0);
        }
        System.exit(run(new Cell(System.getenv(), stdio, false), body));
    }

    /** Runs a body; an Exit is its status. */
    static int run(Cell cell, Body body) {
        try {
            return body.run(cell);
        } catch (Exit e) {
            return e.status;
        }
    }

    static String oneLine(String s) {
        return String.join(" ", s.trim().split("\\s+"));
    }

    /** The library's version as its jar says it: the Maven pom.properties at `pomProperties`
     *  (when given), else the manifest's Bundle-Version. */
    static String libraryVersion(Class<?> library, String pomProperties) {
        if (pomProperties != null) {
            try (InputStream in = library.getResourceAsStream(pomProperties)) {
                if (in != null) {
                    Properties p = new Properties();
                    p.load(in);
                    String v = p.getProperty("version");
                    if (v != null && !v.isEmpty()) {
                        return v;
                    }
                }
            } catch (IOException e) {
                // fall through to the manifest
            }
        }
        String jar = library.getProtectionDomain().getCodeSource().getLocation().toString();
        try (InputStream in = new java.net.URL("jar:" + jar + "!/META-INF/MANIFEST.MF").openStream()) {
            String v = new Manifest(in).getMainAttributes().getValue("Bundle-Version");
            if (v != null) {
                return v;
            }
        } catch (IOException e) {
            // said below
        }
        return "unknown";
    }

    /** TLS trusting only the CA certificates in `caFile` (the contract's MATRIX_CA_FILE). */
    static SSLContext trusting(String caFile) throws IOException, GeneralSecurityException {
        KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
        store.load(null, null);
        int n = 0;
        try (InputStream in = new FileInputStream(caFile)) {
            for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                store.setCertificateEntry("matrix-ca-" + n++, c);
            }
        }
        if (n == 0) {
            throw new GeneralSecurityException("no certificate in " + caFile);
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(store);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, tmf.getTrustManagers(), null);
        return context;
    }

    private static int scaled(int millis) {
        return millis == 0 ? 0 : (int) Math.min(Integer.MAX_VALUE, millis * SPEED);
    }

    /** A socket whose read timeout is the library's in real time. Paho sets a 1 s SO_TIMEOUT on
     *  every socket (TCPNetworkModule.start) and does not retry a timeout during the WebSocket
     *  handshake: the 101 must come within 1 s. The JVM waits for a read with poll(), whose
     *  timeout a preloaded libfaketime scales down by N, so under ×10 the library would wait
     *  0.1 s of real time for a network that did not get faster. Scaled back up, the library
     *  waits what it waits in production, 1 s of real time; unaccelerated, nothing changes. */
    private static final class RealTimeoutSocket extends Socket {
        private final HandshakeGate gate;

        RealTimeoutSocket(HandshakeGate gate) {
            this.gate = gate;
        }

        @Override
        public synchronized void setSoTimeout(int millis) throws SocketException {
            super.setSoTimeout(scaled(millis));
        }

        @Override
        public void connect(SocketAddress to, int timeout) throws IOException {
            super.connect(to, timeout);
            HandshakeGate.connected(gate);
        }

        @Override
        public InputStream getInputStream() throws IOException {
            return HandshakeGate.reading(gate, super.getInputStream());
        }

        @Override
        public OutputStream getOutputStream() throws IOException {
            return HandshakeGate.writing(gate, super.getOutputStream());
        }

        @Override
        public synchronized void close() throws IOException {
            HandshakeGate.closed(gate);
            super.close();
        }
    }

    /** Keeps the handshakes of a runtime's Paho clients apart. Paho Java (1.1.0-1.2.5, and its
     *  MQTT v5 client) encodes its Sec-WebSocket-Key, and checks the broker's
     *  Sec-WebSocket-Accept, through one static Base64 encoder that writes a shared field and
     *  then reads it back without a lock (internal.websocket.Base64): two cells of one JVM doing
     *  either at once can read each other's value, and the check fails with "WebSocket Response
     *  header: Incorrect Sec-WebSocket-Key" (a debian x10 run in CI). The key is encoded after
     *  the socket is connected (a TLS socket: after its handshake) and before its first write,
     *  the answer checked after its first read and before the library asks for the socket's
     *  input stream again (for its WebSocket receiver, right after the handshake, in every
     *  version: 1.1.0-1.2.5 and v5 1.2.5), writes again (the CONNECT) or closes it. Not up to
     *  the CONNECT: between them Paho starts its receiver and sender threads, each in a 100 ms
     *  sleep loop, and 60 cells at once then queued for 10 s. One gate a socket; one socket of
     *  the runtime at a time may be in either stretch. The wait for the broker's 101 lies
     *  outside both, and a 101 that comes in pieces is bounded by Paho's own 1 s read timeout. */
    static final class HandshakeGate {
        /** The one permit of the runtime. */
        private static final Semaphore ONE = new Semaphore(1);
        /** 0 connected, 1 request written, 2 answer read, 3 past the handshake. */
        private int phase;
        private boolean held;
        private boolean closed;

        /** The socket is connected (a TLS socket: its handshake is done): its key comes next. */
        static void connected(HandshakeGate g) throws IOException {
            if (g != null) {
                g.enter();
            }
        }

        /** The socket closed: the gate is free, for good. */
        static void closed(HandshakeGate g) {
            if (g != null) {
                g.leave(CLOSED);
            }
        }

        /** `in`, telling the gate when the first bytes came. Asked for while the answer is
         *  being checked, it means the check is over (the library's receiver wants it). */
        static InputStream reading(HandshakeGate g, InputStream in) {
            if (g == null) {
                return in;
            }
            g.leave(ASKED);
            return new FilterInputStream(in) {
                @Override
                public int read() throws IOException {
                    int b = in.read();
                    g.bytesRead(b < 0 ? -1 : 1);
                    return b;
                }

                @Override
                public int read(byte[] b, int off, int len) throws IOException {
                    int n = in.read(b, off, len);
                    g.bytesRead(n);
                    return n;
                }
            };
        }

        /** `out`, telling the gate when bytes went. */
        static OutputStream writing(HandshakeGate g, OutputStream out) {
            if (g == null) {
                return out;
            }
            return new FilterOutputStream(out) {
                @Override
                public void write(int b) throws IOException {
                    out.write(b);
                    g.leave(WROTE);
                }

                @Override
                public void write(byte[] b, int off, int len) throws IOException {
                    out.write(b, off, len);
                    g.leave(WROTE);
                }
            };
        }

        /** The first bytes of the broker's answer: its check comes next. */
        private void bytesRead(int n) throws IOException {
            synchronized (this) {
                if (n <= 0 || phase != 1) {
                    return;
                }
                phase = 2;
            }
            enter();
        }

        /** Waits for the permit (without holding this gate's lock, which close needs). */
        private void enter() throws IOException {
            try {
                ONE.acquire();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted waiting for the runtime's handshake gate");
            }
            synchronized (this) {
                if (!closed) {
                    held = true;
                    return;
                }
            }
            ONE.release();
            throw new SocketException("Socket is closed");
        }

        /** What moves a socket on: bytes went out (the request, then the CONNECT), its input
         *  stream was asked for (which ends only the answer's check), it closed. */
        private static final int WROTE = 0;
        private static final int ASKED = 1;
        private static final int CLOSED = 2;

        /** Moves on after `event`, and frees the gate if this socket held it. */
        private void leave(int event) {
            synchronized (this) {
                if (event == CLOSED) {
                    closed = true;
                    phase = 3;
                } else if (phase == 2 || (phase == 0 && event == WROTE)) {
                    phase++;
                }
                if (!held) {
                    return;
                }
                held = false;
            }
            ONE.release();
        }
    }

    /** Makes RealTimeoutSockets, each recorded in the cell (closed when it ends). */
    private static final class RealTimeoutSockets extends SocketFactory {
        private final Cell cell;

        RealTimeoutSockets(Cell cell) {
            this.cell = cell;
        }

        @Override
        public Socket createSocket() {
            Socket s = new RealTimeoutSocket(cell.gate());
            cell.track(s);
            return s;
        }

        /** A new socket, bound to `from` when given, connected to `to`. */
        private Socket connected(InetSocketAddress to, InetSocketAddress from) throws IOException {
            Socket s = createSocket();
            if (from != null) {
                s.bind(from);
            }
            s.connect(to);
            return s;
        }

        @Override
        public Socket createSocket(String host, int port) throws IOException {
            return connected(new InetSocketAddress(host, port), null);
        }

        @Override
        public Socket createSocket(String host, int port, InetAddress local, int localPort) throws IOException {
            return connected(new InetSocketAddress(host, port), new InetSocketAddress(local, localPort));
        }

        @Override
        public Socket createSocket(InetAddress host, int port) throws IOException {
            return connected(new InetSocketAddress(host, port), null);
        }

        @Override
        public Socket createSocket(InetAddress host, int port, InetAddress local, int localPort) throws IOException {
            return connected(new InetSocketAddress(host, port), new InetSocketAddress(local, localPort));
        }
    }

    /** The TLS form of RealTimeoutSocket: Paho's SSLNetworkModule creates an unconnected
     *  socket from the factory, connects it, and sets the same 1 s read timeout (and its
     *  handshake timeout) on it; this socket passes everything to the JDK's own SSLSocket and
     *  scales only the timeouts, as RealTimeoutSocket does. */
    private static final class RealTimeoutSslSocket extends SSLSocket {
        private final SSLSocket inner;
        private final HandshakeGate gate;

        RealTimeoutSslSocket(SSLSocket inner, HandshakeGate gate) {
            this.inner = inner;
            this.gate = gate;
        }

        @Override public synchronized void setSoTimeout(int millis) throws SocketException { inner.setSoTimeout(scaled(millis)); }
        @Override public synchronized int getSoTimeout() throws SocketException { return (int) (inner.getSoTimeout() / SPEED); }
        @Override public void connect(SocketAddress to) throws IOException { inner.connect(to); }
        @Override public void connect(SocketAddress to, int timeout) throws IOException { inner.connect(to, scaled(timeout)); }
        @Override public void bind(SocketAddress from) throws IOException { inner.bind(from); }
        @Override public InputStream getInputStream() throws IOException { return HandshakeGate.reading(gate, inner.getInputStream()); }
        @Override public OutputStream getOutputStream() throws IOException { return HandshakeGate.writing(gate, inner.getOutputStream()); }
        @Override public synchronized void close() throws IOException { HandshakeGate.closed(gate); inner.close(); }
        @Override public void shutdownInput() throws IOException { inner.shutdownInput(); }
        @Override public void shutdownOutput() throws IOException { inner.shutdownOutput(); }
        @Override public boolean isConnected() { return inner.isConnected(); }
        @Override public boolean isBound() { return inner.isBound(); }
        @Override public boolean isClosed() { return inner.isClosed(); }
        @Override public boolean isInputShutdown() { return inner.isInputShutdown(); }
        @Override public boolean isOutputShutdown() { return inner.isOutputShutdown(); }
        @Override public InetAddress getInetAddress() { return inner.getInetAddress(); }
        @Override public InetAddress getLocalAddress() { return inner.getLocalAddress(); }
        @Override public int getPort() { return inner.getPort(); }
        @Override public int getLocalPort() { return inner.getLocalPort(); }
        @Override public SocketAddress getRemoteSocketAddress() { return inner.getRemoteSocketAddress(); }
        @Override public SocketAddress getLocalSocketAddress() { return inner.getLocalSocketAddress(); }
        @Override public void setTcpNoDelay(boolean on) throws SocketException { inner.setTcpNoDelay(on); }
        @Override public boolean getTcpNoDelay() throws SocketException { return inner.getTcpNoDelay(); }
        @Override public void setKeepAlive(boolean on) throws SocketException { inner.setKeepAlive(on); }
        @Override public void setSoLinger(boolean on, int linger) throws SocketException { inner.setSoLinger(on, linger); }
        @Override public String[] getSupportedCipherSuites() { return inner.getSupportedCipherSuites(); }
        @Override public String[] getEnabledCipherSuites() { return inner.getEnabledCipherSuites(); }
        @Override public void setEnabledCipherSuites(String[] suites) { inner.setEnabledCipherSuites(suites); }
        @Override public String[] getSupportedProtocols() { return inner.getSupportedProtocols(); }
        @Override public String[] getEnabledProtocols() { return inner.getEnabledProtocols(); }
        @Override public void setEnabledProtocols(String[] protocols) { inner.setEnabledProtocols(protocols); }
        @Override public SSLSession getSession() { return inner.getSession(); }
        @Override public SSLSession getHandshakeSession() { return inner.getHandshakeSession(); }
        @Override public SSLParameters getSSLParameters() { return inner.getSSLParameters(); }
        @Override public void setSSLParameters(SSLParameters p) { inner.setSSLParameters(p); }
        @Override public void addHandshakeCompletedListener(HandshakeCompletedListener l) { inner.addHandshakeCompletedListener(l); }
        @Override public void removeHandshakeCompletedListener(HandshakeCompletedListener l) { inner.removeHandshakeCompletedListener(l); }
        @Override public void startHandshake() throws IOException { inner.startHandshake(); HandshakeGate.connected(gate); }
        @Override public void setUseClientMode(boolean mode) { inner.setUseClientMode(mode); }
        @Override public boolean getUseClientMode() { return inner.getUseClientMode(); }
        @Override public void setNeedClientAuth(boolean need) { inner.setNeedClientAuth(need); }
        @Override public boolean getNeedClientAuth() { return inner.getNeedClientAuth(); }
        @Override public void setWantClientAuth(boolean want) { inner.setWantClientAuth(want); }
        @Override public boolean getWantClientAuth() { return inner.getWantClientAuth(); }
        @Override public void setEnableSessionCreation(boolean flag) { inner.setEnableSessionCreation(flag); }
        @Override public boolean getEnableSessionCreation() { return inner.getEnableSessionCreation(); }
        @Override public String toString() { return inner.toString(); }
    }

    /** An SSLSocketFactory from `context` whose sockets keep the library's read timeouts in
     *  real time (see RealTimeoutSocket), each recorded in the cell. Paho's wss module asks
     *  only createSocket(). */
    private static final class RealTimeoutSslSockets extends SSLSocketFactory {
        private final SSLSocketFactory inner;
        private final Cell cell;

        RealTimeoutSslSockets(SSLContext context, Cell cell) {
            this.inner = context.getSocketFactory();
            this.cell = cell;
        }

        private Socket wrap(Socket s) {
            Socket w = new RealTimeoutSslSocket((SSLSocket) s, cell.gate());
            cell.track(w);
            return w;
        }

        @Override public Socket createSocket() throws IOException { return wrap(inner.createSocket()); }
        @Override public Socket createSocket(Socket s, String host, int port, boolean autoClose) throws IOException {
            return wrap(inner.createSocket(s, host, port, autoClose));
        }
        @Override public Socket createSocket(String host, int port) throws IOException { return wrap(inner.createSocket(host, port)); }
        @Override public Socket createSocket(String host, int port, InetAddress local, int localPort) throws IOException {
            return wrap(inner.createSocket(host, port, local, localPort));
        }
        @Override public Socket createSocket(InetAddress host, int port) throws IOException { return wrap(inner.createSocket(host, port)); }
        @Override public Socket createSocket(InetAddress host, int port, InetAddress local, int localPort) throws IOException {
            return wrap(inner.createSocket(host, port, local, localPort));
        }
        @Override public String[] getDefaultCipherSuites() { return inner.getDefaultCipherSuites(); }
        @Override public String[] getSupportedCipherSuites() { return inner.getSupportedCipherSuites(); }
    }
}
