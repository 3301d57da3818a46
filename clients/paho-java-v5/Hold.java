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
// The body is `run(Cell)`, shared by `main` (one cell, the process's environment and stdout)
// and the runtime (clients/java-contract/Runtime.java, a cell per connection); the contract's
// plumbing is clients/java-contract/Contract.java, compiled in beside this file.
//
// `Hold --version` prints only the `client:` line.

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;

import javax.net.SocketFactory;

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

    private Hold() {}

    // The MQTT 5 client looks its network modules up in one static ServiceLoader without a lock
    // (NetworkModuleService.validateURI and createInstance), as Paho Java 1.2.1 does, whose
    // runtime cells failed with "no NetworkModule installed for scheme \"ws\"" when created at
    // once. One walk over every module factory, before any cell runs (a class is initialised
    // once, other threads wait for it), loads them all; later walks only read the loaded list.
    static {
        try {
            new MqttClient("matrix-warm-up://127.0.0.1:1", "warm-up", new MemoryPersistence());
        } catch (IllegalArgumentException | MqttException expected) {
            // no factory has the scheme: the walk went over them all
        }
    }

    /** What the `client:` line names: the library and its version, as its jar says. */
    static String client() {
        return "paho-java-v5 " + Contract.libraryVersion(MqttClient.class, POM_PROPERTIES);
    }

    public static void main(String[] args) {
        Contract.main(args, Hold::client, Hold::run);
    }

    /** One cell: connect, subscribe, hold, round trip; the exit status (or a Contract.Exit). */
    static int run(Contract.Cell cell) {
        cell.out("client: " + client());
        String protocol = cell.env("MATRIX_PROTOCOL", "3.1.1");
        if (!protocol.equals("5")) {
            throw cell.fail("MATRIX_PROTOCOL=\"" + protocol + "\": this client speaks MQTT 5 only (protocol = \"5\" in matrix.toml)");
        }
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
            public void disconnected(MqttDisconnectResponse response) {
                MqttException e = response.getException();
                lost.complete(e != null ? e : new Exception(response.toString()));
            }

            @Override
            public void mqttErrorOccurred(MqttException e) {
                lost.complete(e);
            }

            @Override
            public void messageArrived(String t, MqttMessage m) {
                if (t.equals(env.topic) && Arrays.equals(m.getPayload(), env.payload)) {
                    echo.complete(System.nanoTime());
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
        options.setKeepAliveInterval(env.keepalive);
        options.setUserName(env.username);
        options.setPassword(env.password == null ? new byte[0] : env.password.getBytes(StandardCharsets.UTF_8));
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
            // A CONNACK reason code of 0x80 or more (MQTT 5's refusals) comes back as the reason code.
            if (code >= 0x80 && code <= 0xFF) {
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
