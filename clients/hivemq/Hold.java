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
// `Hold --version` prints only the `client:` line.

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.jar.Manifest;

import com.hivemq.client.mqtt.MqttClient;
import com.hivemq.client.mqtt.datatypes.MqttQos;
import com.hivemq.client.mqtt.mqtt3.Mqtt3AsyncClient;
import com.hivemq.client.mqtt.mqtt3.Mqtt3ClientBuilder;
import com.hivemq.client.mqtt.mqtt3.exceptions.Mqtt3ConnAckException;

public final class Hold {
    /** Bound on connect + upgrade + CONNACK, in the program's own clock: under an accelerated
     *  clock (libfaketime ×N) these are broker seconds, and a JVM on a busy machine may need
     *  real ones, so it is generous; the harness bounds the set-up in real time anyway. */
    private static final int CONNECT_SECS = 200;
    /** The connection loss the library reported. */
    private static final CompletableFuture<Throwable> LOST = new CompletableFuture<>();
    /** When our own message came back (System.nanoTime()). */
    private static final CompletableFuture<Long> ECHO = new CompletableFuture<>();

    private Hold() {}

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

    /** The library's version as its jar's manifest says it. */
    static String libraryVersion() {
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

    /** The innermost cause's words, with the outer ones when they say more. */
    private static String words(Throwable t) {
        Throwable e = t;
        while ((e instanceof ExecutionException || e instanceof java.util.concurrent.CompletionException) && e.getCause() != null) {
            e = e.getCause();
        }
        return e.toString();
    }

    private static <T> T await(CompletableFuture<T> f, long nanos) {
        try {
            return f.get(Math.max(nanos, 0), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            return null;
        } catch (InterruptedException | ExecutionException e) {
            lost(words(e));
            return null;
        }
    }

    public static void main(String[] args) {
        out("client: hivemq-mqtt-client " + libraryVersion());
        if (Arrays.asList(args).contains("--version")) {
            System.exit(0);
        }

        String transport = env("MATRIX_TRANSPORT", null);
        String host = env("MATRIX_HOST", null);
        int port = envInt("MATRIX_PORT");
        String path = env("MATRIX_PATH", "/mqtt");
        String username = env("MATRIX_USERNAME", null);
        String password = System.getenv("MATRIX_PASSWORD");
        String clientId = env("MATRIX_CLIENT_ID", null);
        int keepalive = envInt("MATRIX_KEEPALIVE_SECS");
        double hold = envSecs("MATRIX_HOLD_SECS", null);
        double roundTrip = envSecs("MATRIX_ROUND_TRIP_SECS", "10");
        String topic = env("MATRIX_TOPIC", null);
        byte[] payload = ("alive " + clientId).getBytes(StandardCharsets.UTF_8);

        Mqtt3ClientBuilder builder = MqttClient.builder()
            .useMqttVersion3()
            .identifier(clientId)
            .serverHost(host)
            .serverPort(port)
            .addDisconnectedListener(context -> LOST.complete(context.getCause()));
        if (transport.equals("ws")) {
            builder = builder.webSocketConfig()
                .serverPath(path.startsWith("/") ? path.substring(1) : path)
                .subprotocol("mqtt")
                .applyWebSocketConfig();
        } else if (!transport.equals("tcp")) {
            fail("MATRIX_TRANSPORT=\"" + transport + "\" is neither ws nor tcp");
        }
        Mqtt3AsyncClient client = builder.buildAsync();

        try {
            client.connectWith()
                .cleanSession(true)
                .keepAlive(keepalive)
                .simpleAuth()
                .username(username)
                .password((password == null ? "" : password).getBytes(StandardCharsets.UTF_8))
                .applySimpleAuth()
                .send()
                .get(CONNECT_SECS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Mqtt3ConnAckException) {
                out("refused: " + oneLine(e.getCause().toString()));
                System.exit(1);
            }
            lost(words(e));
        } catch (TimeoutException e) {
            lost("no CONNACK within " + CONNECT_SECS + " s");
        } catch (InterruptedException e) {
            fail("interrupted");
        }
        long connackAt = System.nanoTime();

        CompletableFuture<?> suback = client.subscribeWith()
            .topicFilter(topic)
            .qos(MqttQos.AT_MOST_ONCE)
            .callback(p -> {
                if (p.getTopic().toString().equals(topic) && Arrays.equals(p.getPayloadAsBytes(), payload)) {
                    ECHO.complete(System.nanoTime());
                }
            })
            .send();
        Object first = await(CompletableFuture.anyOf(suback, LOST), CONNECT_SECS * 1_000_000_000L);
        if (first == null) {
            lost("no SUBACK within " + CONNECT_SECS + " s");
        }
        if (LOST.isDone()) {
            lost(words(LOST.join()));
        }

        long holdEnd = connackAt + (long) (hold * 1e9);
        Throwable cause = await(LOST, holdEnd - System.nanoTime());
        if (cause != null) {
            lost(words(cause));
        }

        long sent = System.nanoTime();
        client.publishWith().topic(topic).payload(payload).qos(MqttQos.AT_MOST_ONCE).send();
        Object echo = await(CompletableFuture.anyOf(ECHO, LOST), sent + (long) (roundTrip * 1e9) - System.nanoTime());
        if (echo instanceof Throwable) {
            lost(words((Throwable) echo));
        }
        if (echo == null) {
            lost("no round trip within " + roundTrip + " s");
        }
        long echoAt = (Long) echo;
        try {
            client.disconnect().get((long) (roundTrip * 1e9), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            lost("DISCONNECT did not complete within " + roundTrip + " s");
        } catch (InterruptedException | ExecutionException e) {
            lost(words(e));
        }
        out(String.format("done: round trip %.0f ms", (echoAt - sent) / 1e6));
        System.exit(0);
    }
}
