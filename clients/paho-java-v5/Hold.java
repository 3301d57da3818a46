// Hold program for the Eclipse Paho Java MQTT v5 client (org.eclipse.paho.mqttv5.client;
// 1.2.5 is the only version Maven Central serves here), its jar fetched by coordinates and
// checked against clients/paho-java-v5/lock.txt by clients/setup.sh, and compiled against it.
//
// Implements the mosquitto-matrix command-client contract v3 (see clients/README.md) under
// MQTT 5 only (the library speaks no 3.1.1: MATRIX_PROTOCOL must be 5, matrix.toml says
// protocol = "5"): connect over WebSocket (ws://host:port/path), over WebSocket in TLS
// (wss://host:port/path, trusting only MATRIX_CA_FILE) or TCP (tcp://host:port), clean start,
// subscribe to MATRIX_TOPIC, hold for MATRIX_HOLD_SECS from CONNACK with only the library's
// own keepalive traffic, then publish one QoS-0 message and wait for it to come back.
// Automatic reconnect off, persistence in memory.
//
// On a connection loss it prints `lost: <exception.toString()>`, the library's own words
// (MqttCallback.disconnected carries the MqttException). The version is the library's own,
// read from the jar it runs with (its Maven pom.properties, else its manifest's Bundle-Version).
//
// `Hold --version` prints only the `client:` line.

import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.Arrays;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.jar.Manifest;

import javax.net.SocketFactory;
import javax.net.ssl.HandshakeCompletedListener;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSession;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;
import javax.net.ssl.TrustManagerFactory;

import org.eclipse.paho.mqttv5.client.IMqttToken;
import org.eclipse.paho.mqttv5.client.MqttCallback;
import org.eclipse.paho.mqttv5.client.MqttClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.MqttDisconnectResponse;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.packet.MqttProperties;

public final class Hold {
    private static final String POM_PROPERTIES =
        "/META-INF/maven/org.eclipse.paho/org.eclipse.paho.mqttv5.client/pom.properties";

    /** Bound on connect + upgrade + CONNACK, in the program's own clock: under an accelerated
     *  clock (libfaketime ×N) these are broker seconds, and a JVM on a busy machine may need
     *  real ones, so it is generous; the harness bounds the set-up in real time anyway. */
    private static final int CONNECT_SECS = 200;
    /** The connection loss the library reported, completed from its callback thread. */
    private static final CompletableFuture<Throwable> LOST = new CompletableFuture<>();
    /** When our own message came back (System.nanoTime()). */
    private static final CompletableFuture<Long> ECHO = new CompletableFuture<>();

    private Hold() {}

    /** How many times faster than real time this process's clock runs: the N of libfaketime's
     *  FAKETIME="+0 xN" that an accelerated run preloads; 1 otherwise. */
    private static final long SPEED = speed(System.getenv("FAKETIME"));

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

    /** A socket whose read timeout is the library's in real time. Paho sets a 1 s SO_TIMEOUT on
     *  every socket (TCPNetworkModule.start) and does not retry a timeout during the WebSocket
     *  handshake: the 101 must come within 1 s. The JVM waits for a read with poll(), whose
     *  timeout a preloaded libfaketime scales down by N, so under ×10 the library would wait
     *  0.1 s of real time for a network that did not get faster. Scaled back up, the library
     *  waits what it waits in production, 1 s of real time; unaccelerated, nothing changes. */
    private static final class RealTimeoutSocket extends Socket {
        @Override
        public synchronized void setSoTimeout(int millis) throws SocketException {
            super.setSoTimeout(millis == 0 ? 0 : (int) Math.min(Integer.MAX_VALUE, millis * SPEED));
        }
    }

    private static final class RealTimeoutSockets extends SocketFactory {
        @Override
        public Socket createSocket() {
            return new RealTimeoutSocket();
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

    /** The TLS form of RealTimeoutSocket: Paho's SSLNetworkModule creates an unconnected
     *  socket from the factory, connects it, and sets the same 1 s read timeout (and its
     *  handshake timeout) on it; this socket passes everything to the JDK's own SSLSocket and
     *  scales only the timeouts, as RealTimeoutSocket does. */
    private static final class RealTimeoutSslSocket extends SSLSocket {
        private final SSLSocket inner;

        RealTimeoutSslSocket(SSLSocket inner) {
            this.inner = inner;
        }

        @Override public synchronized void setSoTimeout(int millis) throws SocketException {
            inner.setSoTimeout(millis == 0 ? 0 : (int) Math.min(Integer.MAX_VALUE, millis * SPEED));
        }
        @Override public synchronized int getSoTimeout() throws SocketException {
            return (int) (inner.getSoTimeout() / SPEED);
        }
        @Override public void connect(SocketAddress to) throws IOException { inner.connect(to); }
        @Override public void connect(SocketAddress to, int timeout) throws IOException {
            inner.connect(to, timeout == 0 ? 0 : (int) Math.min(Integer.MAX_VALUE, timeout * SPEED));
        }
        @Override public void bind(SocketAddress from) throws IOException { inner.bind(from); }
        @Override public InputStream getInputStream() throws IOException { return inner.getInputStream(); }
        @Override public OutputStream getOutputStream() throws IOException { return inner.getOutputStream(); }
        @Override public synchronized void close() throws IOException { inner.close(); }
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
        @Override public void startHandshake() throws IOException { inner.startHandshake(); }
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
     *  real time (see RealTimeoutSocket). Paho's wss module asks only createSocket(). */
    private static final class RealTimeoutSslSockets extends SSLSocketFactory {
        private final SSLSocketFactory inner;

        RealTimeoutSslSockets(SSLContext context) {
            this.inner = context.getSocketFactory();
        }

        @Override public Socket createSocket() throws IOException {
            return new RealTimeoutSslSocket((SSLSocket) inner.createSocket());
        }
        @Override public Socket createSocket(Socket s, String host, int port, boolean autoClose) throws IOException {
            return new RealTimeoutSslSocket((SSLSocket) inner.createSocket(s, host, port, autoClose));
        }
        @Override public Socket createSocket(String host, int port) throws IOException {
            return new RealTimeoutSslSocket((SSLSocket) inner.createSocket(host, port));
        }
        @Override public Socket createSocket(String host, int port, InetAddress local, int localPort) throws IOException {
            return new RealTimeoutSslSocket((SSLSocket) inner.createSocket(host, port, local, localPort));
        }
        @Override public Socket createSocket(InetAddress host, int port) throws IOException {
            return new RealTimeoutSslSocket((SSLSocket) inner.createSocket(host, port));
        }
        @Override public Socket createSocket(InetAddress host, int port, InetAddress local, int localPort) throws IOException {
            return new RealTimeoutSslSocket((SSLSocket) inner.createSocket(host, port, local, localPort));
        }
        @Override public String[] getDefaultCipherSuites() { return inner.getDefaultCipherSuites(); }
        @Override public String[] getSupportedCipherSuites() { return inner.getSupportedCipherSuites(); }
    }

    private static String oneLine(String s) {
        return String.join(" ", s.trim().split("\\s+"));
    }

    private static void out(String line) {
        System.out.println(line);
        System.out.flush();
    }

    private static void fail(String message) {
        System.err.println("error: " + oneLine(message));
        System.err.flush();
        System.exit(2);
    }

    private static void lost(String words) {
        out("lost: " + oneLine(words));
        System.exit(1);
    }

    private static String env(String name, String fallback) {
        String v = System.getenv(name);
        if (v == null || v.isEmpty()) {
            if (fallback != null) {
                return fallback;
            }
            fail(name + " is not set");
        }
        return v;
    }

    private static double envSecs(String name, String fallback) {
        String raw = env(name, fallback);
        try {
            double v = Double.parseDouble(raw);
            if (v >= 0 && !Double.isInfinite(v)) {
                return v;
            }
        } catch (NumberFormatException e) {
            // said below
        }
        fail(name + "=\"" + raw + "\" is not a non-negative number");
        return 0;
    }

    private static int envInt(String name) {
        String raw = env(name, null);
        try {
            int v = Integer.parseInt(raw);
            if (v >= 0) {
                return v;
            }
        } catch (NumberFormatException e) {
            // said below
        }
        fail(name + "=\"" + raw + "\" is not a non-negative integer");
        return 0;
    }

    /** The library's version as its jar says it. */
    static String libraryVersion() {
        try (InputStream in = MqttClient.class.getResourceAsStream(POM_PROPERTIES)) {
            if (in != null) {
                Properties p = new Properties();
                p.load(in);
                String v = p.getProperty("version");
                if (v != null && !v.isEmpty()) {
                    return v;
                }
            }
        } catch (java.io.IOException e) {
            // fall through to the manifest
        }
        String jar = MqttClient.class.getProtectionDomain().getCodeSource().getLocation().toString();
        try (InputStream in = new java.net.URL("jar:" + jar + "!/META-INF/MANIFEST.MF").openStream()) {
            String v = new Manifest(in).getMainAttributes().getValue("Bundle-Version");
            if (v != null) {
                return v;
            }
        } catch (java.io.IOException e) {
            // said below
        }
        return "unknown";
    }

    /** Waits up to `nanos` for `f`; null when it did not complete in time. */
    private static <T> T await(CompletableFuture<T> f, long nanos) {
        try {
            return f.get(Math.max(nanos, 0), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            return null;
        } catch (InterruptedException | ExecutionException e) {
            fail("waiting: " + e);
            return null;
        }
    }

    public static void main(String[] args) {
        out("client: paho-java-v5 " + libraryVersion());
        if (Arrays.asList(args).contains("--version")) {
            System.exit(0);
        }

        String protocol = env("MATRIX_PROTOCOL", "3.1.1");
        if (!protocol.equals("5")) {
            fail("MATRIX_PROTOCOL=\"" + protocol + "\": this client speaks MQTT 5 only (protocol = \"5\" in matrix.toml)");
        }
        String transport = env("MATRIX_TRANSPORT", null);
        String host = env("MATRIX_HOST", null);
        int port = envInt("MATRIX_PORT");
        String path = env("MATRIX_PATH", "/mqtt");
        String caFile = System.getenv("MATRIX_CA_FILE");
        boolean tls = caFile != null && !caFile.isEmpty();
        String url;
        if (transport.equals("ws")) {
            url = (tls ? "wss://" : "ws://") + host + ":" + port + (path.startsWith("/") ? path : "/" + path);
        } else if (transport.equals("tcp")) {
            url = "tcp://" + host + ":" + port;
        } else {
            fail("MATRIX_TRANSPORT=\"" + transport + "\" is neither ws nor tcp");
            return;
        }
        String username = env("MATRIX_USERNAME", null);
        String password = System.getenv("MATRIX_PASSWORD");
        String clientId = env("MATRIX_CLIENT_ID", null);
        int keepalive = envInt("MATRIX_KEEPALIVE_SECS");
        double hold = envSecs("MATRIX_HOLD_SECS", null);
        double roundTrip = envSecs("MATRIX_ROUND_TRIP_SECS", "10");
        String topic = env("MATRIX_TOPIC", null);
        byte[] payload = ("alive " + clientId).getBytes(StandardCharsets.UTF_8);

        MqttClient client;
        try {
            client = new MqttClient(url, clientId, new MemoryPersistence());
        } catch (MqttException e) {
            fail("cannot create the client for " + url + ": " + e);
            return;
        }
        client.setCallback(new MqttCallback() {
            @Override
            public void disconnected(MqttDisconnectResponse response) {
                MqttException e = response.getException();
                LOST.complete(e != null ? e : new Exception(response.toString()));
            }

            @Override
            public void mqttErrorOccurred(MqttException e) {
                LOST.complete(e);
            }

            @Override
            public void messageArrived(String t, MqttMessage m) {
                if (t.equals(topic) && Arrays.equals(m.getPayload(), payload)) {
                    ECHO.complete(System.nanoTime());
                }
            }

            @Override
            public void deliveryComplete(IMqttToken token) {}

            @Override
            public void connectComplete(boolean reconnect, String serverUri) {}

            @Override
            public void authPacketArrived(int reasonCode, MqttProperties properties) {}
        });

        MqttConnectionOptions options = new MqttConnectionOptions();
        options.setCleanStart(true);
        options.setKeepAliveInterval(keepalive);
        options.setUserName(username);
        options.setPassword(password == null ? new byte[0] : password.getBytes(StandardCharsets.UTF_8));
        options.setAutomaticReconnect(false);
        options.setConnectionTimeout(CONNECT_SECS);
        if (tls) {
            SSLContext context;
            try {
                context = trusting(caFile);
            } catch (IOException | GeneralSecurityException e) {
                fail("MATRIX_CA_FILE=\"" + caFile + "\": " + e);
                return;
            }
            // The library's wss:// module takes an SSLSocketFactory (it verifies the host name
            // against the certificate, as over HTTPS, by default since 1.2.1).
            options.setSocketFactory(SPEED > 1 ? new RealTimeoutSslSockets(context) : context.getSocketFactory());
        } else if (SPEED > 1) {
            options.setSocketFactory(new RealTimeoutSockets());
        }

        try {
            client.connect(options);
        } catch (MqttException e) {
            int code = e.getReasonCode();
            // A CONNACK reason code of 0x80 or more (MQTT 5's refusals) comes back as the reason code.
            if (code >= 0x80 && code <= 0xFF) {
                out("refused: " + oneLine(e.toString()));
                System.exit(1);
            }
            // MqttException.toString() ends with its cause: "... (32103) - java.net.ConnectException: ...".
            lost(e.toString());
        }
        long connackAt = System.nanoTime();

        try {
            client.subscribe(topic, 0);
        } catch (MqttException e) {
            Throwable cause = LOST.getNow(null);
            lost(cause != null ? cause.toString() : e.toString());
        }

        long holdEnd = connackAt + (long) (hold * 1e9);
        Throwable cause = await(LOST, holdEnd - System.nanoTime());
        if (cause != null) {
            lost(cause.toString());
        }

        long sent = System.nanoTime();
        try {
            client.publish(topic, payload, 0, false);
        } catch (MqttException e) {
            cause = LOST.getNow(null);
            lost(cause != null ? cause.toString() : e.toString());
        }
        long deadline = sent + (long) (roundTrip * 1e9);
        Object first = await(CompletableFuture.anyOf(ECHO, LOST), deadline - System.nanoTime());
        if (first instanceof Throwable) {
            lost(first.toString());
        }
        if (first == null) {
            lost("no round trip within " + roundTrip + " s");
        }
        long echoAt = (Long) first;
        // disconnect() can hang in the library itself (1.1.0: WebSocketReceiver.stop() joins
        // its reader thread from inside a synchronized block), so it runs on a thread of its own
        // and is waited for as long as the round trip may take. The session is proven by then.
        CompletableFuture<Throwable> disconnected = new CompletableFuture<>();
        Thread closer = new Thread(() -> {
            try {
                client.disconnect(0);
                disconnected.complete(null);
            } catch (MqttException e) {
                disconnected.complete(e);
            }
        }, "disconnect");
        closer.setDaemon(true);
        closer.start();
        String note = "";
        try {
            Throwable failed = disconnected.get((long) (roundTrip * 1e9), TimeUnit.NANOSECONDS);
            if (failed != null) {
                // A failing DISCONNECT is still a lost connection.
                lost(failed.toString());
            }
        } catch (TimeoutException e) {
            note = String.format("; the library's disconnect() did not return within %s s", roundTrip);
        } catch (InterruptedException | ExecutionException e) {
            fail("waiting for disconnect(): " + e);
        }
        out(String.format("done: round trip %.0f ms%s", (echoAt - sent) / 1e6, note));
        System.exit(0);
    }
}
