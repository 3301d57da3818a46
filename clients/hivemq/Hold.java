// Hold program for the HiveMQ MQTT Client (com.hivemq:hivemq-mqtt-client), its MQTT 3.1.1 API
// over its WebSocket transport (Netty) or plain TCP, resolved by Maven from
// clients/hivemq/pom.xml and compiled by clients/setup.sh.
//
// Implements the mosquitto-matrix command-client contract v1 (see clients/README.md): connect
// with MQTT 3.1.1, clean session, subscribe to MATRIX_TOPIC, hold for MATRIX_HOLD_SECS from
// CONNACK with only the library's own keepalive traffic, then publish one QoS-0 message and
// wait for it to come back. The client reconnects only when told to; it is not.
//
// On a connection loss it prints `lost: <the cause's toString()>` (the disconnected listener's
// cause, the library's own words). The version is the jar's Bundle-Version.
//
// The body is `run(Cell)`, shared by `main` (one cell, the process's environment and stdout)
// and the runtime (clients/java-contract/Runtime.java, a cell per connection); the contract's
// plumbing is clients/java-contract/Contract.java, compiled in beside this file.
//
// `Hold --version` prints only the `client:` line.

import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import com.hivemq.client.internal.mqtt.MqttClientConfig;
import com.hivemq.client.internal.mqtt.MqttClientConnectionConfig;
import com.hivemq.client.mqtt.MqttClient;
import com.hivemq.client.mqtt.datatypes.MqttQos;
import com.hivemq.client.mqtt.mqtt3.Mqtt3AsyncClient;
import com.hivemq.client.mqtt.mqtt3.Mqtt3ClientBuilder;
import com.hivemq.client.mqtt.mqtt3.Mqtt3ClientConfig;
import com.hivemq.client.mqtt.mqtt3.exceptions.Mqtt3ConnAckException;

public final class Hold {
    /** Bound on connect + upgrade + CONNACK, in the program's own clock: under an accelerated
     *  clock (libfaketime ×N) these are broker seconds, and a JVM on a busy machine may need
     *  real ones, so it is generous; the harness bounds the set-up in real time anyway. */
    private static final int CONNECT_SECS = 200;

    private Hold() {}

    /** What the `client:` line names: the library and its version, as its jar's manifest says. */
    static String client() {
        return "hivemq-mqtt-client " + Contract.libraryVersion(MqttClient.class, null);
    }

    public static void main(String[] args) {
        Contract.main(args, Hold::client, Hold::run);
    }

    /** The innermost cause's words, with the outer ones when they say more. */
    private static String words(Throwable t) {
        Throwable e = t;
        while ((e instanceof ExecutionException || e instanceof java.util.concurrent.CompletionException) && e.getCause() != null) {
            e = e.getCause();
        }
        return e.toString();
    }

    /** Closes the client's connection at once, no DISCONNECT: the library has no call for that,
     *  so its Netty channel is closed, found through the internal configuration behind the
     *  public view (1.4.2's Mqtt3ClientConfigView.delegate). Only the runtime needs it. */
    private static void abort(Mqtt3ClientConfig view) {
        try {
            Field delegate = view.getClass().getDeclaredField("delegate");
            delegate.setAccessible(true);
            MqttClientConnectionConfig connection = ((MqttClientConfig) delegate.get(view)).getRawConnectionConfig();
            if (connection != null) {
                connection.getChannel().close();
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            // not connected, or another layout: nothing of ours to close
        }
    }

    /** One cell: connect, subscribe, hold, round trip; the exit status (or a Contract.Exit). */
    static int run(Contract.Cell cell) {
        cell.out("client: " + client());
        Contract.Settings env = new Contract.Settings(cell);
        // The connection loss the library reported.
        CompletableFuture<Throwable> lost = new CompletableFuture<>();
        // When our own message came back (System.nanoTime()).
        CompletableFuture<Long> echo = new CompletableFuture<>();

        Mqtt3ClientBuilder builder = MqttClient.builder()
            .useMqttVersion3()
            .identifier(env.clientId)
            .serverHost(env.host)
            .serverPort(env.port)
            .addDisconnectedListener(context -> lost.complete(context.getCause()));
        if (cell.shared) {
            // A CONNACK after the cell was cancelled: its connection is closed at once.
            builder = builder.addConnectedListener(context ->
                cell.track(() -> abort((Mqtt3ClientConfig) context.getClientConfig())));
        }
        if (env.transport.equals("ws")) {
            builder = builder.webSocketConfig()
                .serverPath(env.path.startsWith("/") ? env.path.substring(1) : env.path)
                .subprotocol("mqtt")
                .applyWebSocketConfig();
        } else if (!env.transport.equals("tcp")) {
            throw cell.fail("MATRIX_TRANSPORT=\"" + env.transport + "\" is neither ws nor tcp");
        }
        Mqtt3AsyncClient client = builder.buildAsync();
        if (cell.shared) {
            cell.onEnd(() -> abort(client.getConfig()));
        }

        try {
            client.connectWith()
                .cleanSession(true)
                .keepAlive(env.keepalive)
                .simpleAuth()
                .username(env.username)
                .password((env.password == null ? "" : env.password).getBytes(StandardCharsets.UTF_8))
                .applySimpleAuth()
                .send()
                .get(CONNECT_SECS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Mqtt3ConnAckException) {
                throw cell.refused(e.getCause().toString());
            }
            throw cell.lost(words(e));
        } catch (TimeoutException e) {
            throw cell.lost("no CONNACK within " + CONNECT_SECS + " s");
        } catch (InterruptedException e) {
            throw cell.fail("interrupted");
        }
        long connackAt = System.nanoTime();

        CompletableFuture<?> suback = client.subscribeWith()
            .topicFilter(env.topic)
            .qos(MqttQos.AT_MOST_ONCE)
            .callback(p -> {
                if (p.getTopic().toString().equals(env.topic) && Arrays.equals(p.getPayloadAsBytes(), env.payload)) {
                    echo.complete(System.nanoTime());
                }
            })
            .send();
        Object first = cell.await(CompletableFuture.anyOf(suback, lost), CONNECT_SECS * 1_000_000_000L, e -> cell.lost(words(e)));
        if (first == null) {
            throw cell.lost("no SUBACK within " + CONNECT_SECS + " s");
        }
        if (lost.isDone()) {
            throw cell.lost(words(lost.join()));
        }

        long holdEnd = connackAt + (long) (env.hold * 1e9);
        Throwable cause = cell.await(lost, holdEnd - System.nanoTime(), e -> cell.lost(words(e)));
        if (cause != null) {
            throw cell.lost(words(cause));
        }

        long sent = System.nanoTime();
        client.publishWith().topic(env.topic).payload(env.payload).qos(MqttQos.AT_MOST_ONCE).send();
        Object back = cell.await(CompletableFuture.anyOf(echo, lost), sent + (long) (env.roundTrip * 1e9) - System.nanoTime(), e -> cell.lost(words(e)));
        if (back instanceof Throwable) {
            throw cell.lost(words((Throwable) back));
        }
        if (back == null) {
            throw cell.lost("no round trip within " + env.roundTrip + " s");
        }
        long echoAt = (Long) back;
        try {
            client.disconnect().get((long) (env.roundTrip * 1e9), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw cell.lost("DISCONNECT did not complete within " + env.roundTrip + " s");
        } catch (InterruptedException | ExecutionException e) {
            throw cell.lost(words(e));
        }
        cell.out(String.format("done: round trip %.0f ms", (echoAt - sent) / 1e6));
        return 0;
    }
}
