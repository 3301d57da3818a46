// Checks the runtime's HandshakeGate (clients/java-contract/Contract.java) on its own, without a
// network: tests/runtime.rs compiles it beside Contract.java and runs it. Two sockets' gates, as
// two cells of one JVM: one at a time may be between its connect and its first write (Paho
// encodes its Sec-WebSocket-Key there), or between its first read and its next write (Paho
// checks the broker's Sec-WebSocket-Accept there, until it asks for the input stream again, writes
// or closes); a close frees the gate. Prints `gate: ok`,
// or `gate: FAILED: <what>` and exits 1.
//
// A step that must not happen is given 200 ms to happen anyway: it never does with a working
// gate, however slow the machine. A step that must happen is awaited (5 s at most).

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

public final class GateCheck {
    private GateCheck() {}

    /** Runs `step` on a thread of its own; the latch counts down once it returned. */
    private static CountDownLatch on(String name, Step step) {
        CountDownLatch done = new CountDownLatch(1);
        Thread t = new Thread(() -> {
            try {
                step.run();
                done.countDown();
            } catch (IOException e) {
                System.out.println("gate: FAILED: " + name + ": " + e);
                System.exit(1);
            }
        }, name);
        t.setDaemon(true);
        t.start();
        return done;
    }

    interface Step {
        void run() throws IOException;
    }

    private static void expect(boolean ok, String what) {
        if (!ok) {
            System.out.println("gate: FAILED: " + what);
            System.exit(1);
        }
    }

    private static boolean within(CountDownLatch l, long millis) throws InterruptedException {
        return l.await(millis, TimeUnit.MILLISECONDS);
    }

    private static InputStream answer() {
        return new ByteArrayInputStream("HTTP/1.1 101 Switching Protocols\r\n".getBytes(StandardCharsets.US_ASCII));
    }

    public static void main(String[] args) throws Exception {
        Contract.HandshakeGate a = new Contract.HandshakeGate();
        Contract.HandshakeGate b = new Contract.HandshakeGate();
        OutputStream aOut = Contract.HandshakeGate.writing(a, new ByteArrayOutputStream());
        OutputStream bOut = Contract.HandshakeGate.writing(b, new ByteArrayOutputStream());
        InputStream aIn = Contract.HandshakeGate.reading(a, answer());
        byte[] buf = new byte[64];

        // A is connected: it encodes its key next. B connects: it waits until A has written.
        Contract.HandshakeGate.connected(a);
        CountDownLatch bIn = on("b connects", () -> Contract.HandshakeGate.connected(b));
        expect(!within(bIn, 200), "B passed the gate while A was between its connect and its request");
        aOut.write(new byte[] {'G'});
        expect(within(bIn, 5000), "B did not pass the gate once A had written its request");

        // A reads its answer while B is between its connect and its request: A waits for B.
        CountDownLatch aRead = on("a reads", () -> aIn.read(buf, 0, buf.length));
        expect(!within(aRead, 200), "A went on to check its answer while B was between its connect and its request");
        bOut.write(new byte[] {'G'});
        expect(within(aRead, 5000), "A did not go on once B had written its request");

        // A holds the gate while it checks its answer; B's answer waits for it. Paho asks for
        // the socket's input stream again once the check is done (for its receiver).
        InputStream bIn2 = Contract.HandshakeGate.reading(b, answer());
        CountDownLatch bRead = on("b reads", () -> bIn2.read(buf, 0, buf.length));
        expect(!within(bRead, 200), "B went on to check its answer while A was checking its own");
        Contract.HandshakeGate.reading(a, answer());
        expect(within(bRead, 5000), "B did not go on once A had asked for its input stream after the check");
        bOut.write(new byte[] {'C'});
        Contract.HandshakeGate.closed(a);

        // Past the handshake, a read no longer touches the gate: C holds it, B still reads.
        Contract.HandshakeGate c = new Contract.HandshakeGate();
        Contract.HandshakeGate.connected(c);
        expect(within(on("b reads on", () -> Contract.HandshakeGate.reading(b, answer()).read(buf, 0, buf.length)), 5000),
            "a read past the handshake waited for the gate");
        // A socket closed between its connect and its request frees the gate as well.
        Contract.HandshakeGate.closed(c);
        expect(within(on("d connects", () -> Contract.HandshakeGate.connected(new Contract.HandshakeGate())), 5000),
            "D did not pass the gate once C's socket had closed");
        System.out.println("gate: ok");
    }
}
