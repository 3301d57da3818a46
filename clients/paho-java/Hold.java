// Hold program for Eclipse Paho Java (org.eclipse.paho.client.mqttv3, 1.1.0 and later: the
// first with WebSocket; 1.0.2 has no ws:// transport), resolved by Maven from
// clients/paho-java/pom.xml and compiled against each version by clients/setup.sh.
//
// Implements the mosquitto-matrix command-client contract v3 (see clients/README.md):
// connect with MQTT 3.1.1 over WebSocket (ws://host:port/path), over WebSocket in TLS
// (wss://host:port/path, trusting only MATRIX_CA_FILE; the library then uses its
// WebSocketSecureNetworkModule) or TCP (tcp://host:port),
// subscribe to MATRIX_TOPIC, hold for MATRIX_HOLD_SECS from CONNACK with only the library's
// own keepalive traffic, then publish one QoS-0 message and wait for it to come back.
// Automatic reconnect is off (the library's default), persistence in memory (the default
// would write files into the working directory).
//
// On a connection loss it prints `lost: <exception.toString()>`, the library's own words:
// `Connection lost (32109) - java.io.EOFException` for the drop this project is about.
// The version is the library's own, read from the jar it runs with (its Maven
// pom.properties, else its manifest's Bundle-Version).
//
// The body is `run(Cell)`, shared by `main` (one cell, the process's environment and stdout)
// and the runtime (clients/java-contract/Runtime.java, a cell per connection); the contract's
// plumbing is clients/java-contract/Contract.java, compiled in beside this file.
//
// `Hold --version` prints only the `client:` line.

import java.util.Arrays;
import java.util.concurrent.CompletableFuture;

import javax.net.SocketFactory;

import org.eclipse.paho.client.mqttv3.IMqttDeliveryToken;
import org.eclipse.paho.client.mqttv3.MqttCallback;
import org.eclipse.paho.client.mqttv3.MqttClient;
import org.eclipse.paho.client.mqttv3.MqttConnectOptions;
import org.eclipse.paho.client.mqttv3.MqttException;
import org.eclipse.paho.client.mqttv3.MqttMessage;
import org.eclipse.paho.client.mqttv3.persist.MemoryPersistence;

public final class Hold {
    private static final String POM_PROPERTIES =
        "/META-INF/maven/org.eclipse.paho/org.eclipse.paho.client.mqttv3/pom.properties";

    /** Bound on connect + upgrade + CONNACK, in the program's own clock: under an accelerated
     *  clock (libfaketime ×N) these are broker seconds, and a JVM on a busy machine may need
     *  real ones, so it is generous; the harness bounds the set-up in real time anyway. */
    private static final int CONNECT_SECS = 200;

    private Hold() {}

    // Paho Java 1.2.1 looks its network modules up in one static ServiceLoader without a lock
    // (NetworkModuleService; 1.2.2 made validateURI synchronized, createInstance still is not):
    // cells of one runtime that create clients at once then fail with "no NetworkModule
    // installed for scheme \"ws\"" (measured: 13 of 18 conformance cells of 1.2.1 at once).
    // One walk over every module factory, before any cell runs (a class is initialised once,
    // other threads wait for it), loads them all; later walks only read the loaded list.
    // A scheme no factory has makes the walk complete; 1.1.x and 1.2.0 refuse it at once.
    static {
        try {
            new MqttClient("matrix-warm-up://127.0.0.1:1", "warm-up", new MemoryPersistence());
        } catch (IllegalArgumentException | MqttException expected) {
            // no factory has the scheme: the walk went over them all
        }
    }

    /** What the `client:` line names: the library and its version, as its jar says. */
    static String client() {
        return "paho-java " + Contract.libraryVersion(MqttClient.class, POM_PROPERTIES);
    }

    public static void main(String[] args) {
        Contract.main(args, Hold::client, Hold::run);
    }

    /** One cell: connect, subscribe, hold, round trip; the exit status (or a Contract.Exit). */
    static int run(Contract.Cell cell) {
        cell.out("client: " + client());
        Contract.Settings env = new Contract.Settings(cell);
        String caFile = cell.raw("MATRIX_CA_FILE");
        boolean tls = caFile != null && !caFile.isEmpty();
        String url;
        if (env.transport.equals("ws")) {
            url = (tls ? "wss://" : "ws://") + env.host + ":" + env.port + (env.path.startsWith("/") ? env.path : "/" + env.path);
        } else if (env.transport.equals("tcp")) {
            url = "tcp://" + env.host + ":" + env.port;
        } else {
            throw cell.fail("MATRIX_TRANSPORT=\"" + env.transport + "\" is neither ws nor tcp");
        }
        // The connection loss the library reported, completed from its callback thread.
        CompletableFuture<Throwable> lost = new CompletableFuture<>();
        // When our own message came back (System.nanoTime()).
        CompletableFuture<Long> echo = new CompletableFuture<>();

        MqttClient client;
        try {
            client = new MqttClient(url, env.clientId, new MemoryPersistence());
        } catch (MqttException e) {
            throw cell.fail("cannot create the client for " + url + ": " + e);
        }
        client.setCallback(new MqttCallback() {
            @Override
            public void connectionLost(Throwable cause) {
                lost.complete(cause);
            }

            @Override
            public void messageArrived(String t, MqttMessage m) {
                if (t.equals(env.topic) && Arrays.equals(m.getPayload(), env.payload)) {
                    echo.complete(System.nanoTime());
                }
            }

            @Override
            public void deliveryComplete(IMqttDeliveryToken token) {}
        });

        MqttConnectOptions options = new MqttConnectOptions();
        options.setMqttVersion(MqttConnectOptions.MQTT_VERSION_3_1_1);
        options.setCleanSession(true);
        options.setKeepAliveInterval(env.keepalive);
        options.setUserName(env.username);
        options.setPassword(env.password == null ? new char[0] : env.password.toCharArray());
        options.setAutomaticReconnect(false);
        options.setConnectionTimeout(CONNECT_SECS);
        // With MATRIX_CA_FILE, an SSLSocketFactory: the library's wss:// module takes one (it
        // verifies the host name against the certificate, as over HTTPS, by default since 1.2.1).
        SocketFactory sockets = cell.socketFactory(caFile);
        if (sockets != null) {
            options.setSocketFactory(sockets);
        }

        try {
            client.connect(options);
        } catch (MqttException e) {
            int code = e.getReasonCode();
            // CONNACK return codes 1-5 come back as reason codes 1-5.
            if (code >= 1 && code <= 5) {
                throw cell.refused(e.toString());
            }
            // MqttException.toString() ends with its cause: "... (32103) - java.net.ConnectException: ...".
            throw cell.lost(e.toString());
        }
        long connackAt = System.nanoTime();

        cell.subscribe(() -> client.subscribe(env.topic, 0), lost);

        return cell.holdThenRoundTrip(env, connackAt, lost, echo,
            () -> client.publish(env.topic, env.payload, 0, false), () -> client.disconnect(0));
    }
}
