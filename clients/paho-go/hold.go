// Hold program for Eclipse Paho Go (github.com/eclipse/paho.mqtt.golang),
// built by clients/setup.sh: 1.1.1 offline against Debian's
// golang-github-eclipse-paho.mqtt.golang-dev (GOPATH=/usr/share/gocode,
// GO111MODULE=off), later versions in module mode with
// clients/paho-go/<version>/go.mod and go.sum.
//
// Implements the mosquitto-matrix command-client contract v3 (see
// clients/README.md): connect with MQTT 3.1.1 over WebSocket (ws://host:port/path,
// golang.org/x/net/websocket with subprotocol "mqtt"; gorilla/websocket from 1.4),
// over WebSocket in TLS (wss://, when MATRIX_CA_FILE names the CA to trust: a
// tls.Config whose RootCAs hold that CA only) or TCP (tcp://host:port),
// subscribe to MATRIX_TOPIC, hold for MATRIX_HOLD_SECS from CONNACK with only
// the library's own keepalive traffic, then publish one QoS-0 message and
// wait for it to come back. SetAutoReconnect(false): no reconnecting.
//
// paho.mqtt.golang has no version constant, so the version is stamped in at
// build time (-ldflags "-X main.libVersion=..."): from the Debian package that
// provided the source, or the version folder's go.mod.
//
// Note: Go reads the clock through the vDSO, not through libc, so an
// LD_PRELOADed libfaketime does not speed this program up.
//
// `hold --version` prints only the `client:` line.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

var libVersion = "unknown"

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func out(line string) {
	os.Stdout.WriteString(line + "\n")
	os.Stdout.Sync()
}

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "error: %s\n", oneLine(fmt.Sprintf(format, a...)))
	os.Exit(2)
}

func lost(words string) {
	out("lost: " + oneLine(words))
	os.Exit(1)
}

func env(name, fallback string) string {
	v := os.Getenv(name)
	if v == "" {
		if fallback != "" {
			return fallback
		}
		fail("%s is not set", name)
	}
	return v
}

func envSecs(name, fallback string) time.Duration {
	raw := env(name, fallback)
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil || f < 0 {
		fail("%s=%q is not a non-negative number", name, raw)
	}
	return time.Duration(f * float64(time.Second))
}

func envInt(name string) int {
	raw := env(name, "")
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		fail("%s=%q is not a non-negative integer", name, raw)
	}
	return n
}

func main() {
	out("client: paho.mqtt.golang " + libVersion)
	for _, a := range os.Args[1:] {
		if a == "--version" {
			os.Exit(0)
		}
	}

	transport := env("MATRIX_TRANSPORT", "")
	if transport != "ws" && transport != "tcp" {
		fail("MATRIX_TRANSPORT=%s is neither ws nor tcp", transport)
	}
	host := env("MATRIX_HOST", "")
	port := envInt("MATRIX_PORT")
	path := env("MATRIX_PATH", "/mqtt")
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	username := env("MATRIX_USERNAME", "")
	password := os.Getenv("MATRIX_PASSWORD")
	clientID := env("MATRIX_CLIENT_ID", "")
	keepalive := envInt("MATRIX_KEEPALIVE_SECS")
	hold := envSecs("MATRIX_HOLD_SECS", "")
	roundTrip := envSecs("MATRIX_ROUND_TRIP_SECS", "10")
	// Contract v2: the bound on connect + upgrade + CONNACK and on SUBACK.
	setup := envSecs("MATRIX_SETUP_SECS", "20")
	setupText := strconv.FormatFloat(setup.Seconds(), 'g', -1, 64)
	topic := env("MATRIX_TOPIC", "")
	payload := "alive " + clientID
	rtText := strconv.FormatFloat(roundTrip.Seconds(), 'g', -1, 64)

	// Contract v3: a TLS route names the only CA to trust.
	var tlsConfig *tls.Config
	if caFile := os.Getenv("MATRIX_CA_FILE"); caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			fail("MATRIX_CA_FILE=%s: %v", caFile, err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			fail("MATRIX_CA_FILE=%s: no PEM certificate in it", caFile)
		}
		tlsConfig = &tls.Config{RootCAs: roots}
	}

	var broker string
	if transport == "ws" && tlsConfig != nil {
		broker = fmt.Sprintf("wss://%s:%d%s", host, port, path)
	} else if transport == "ws" {
		broker = fmt.Sprintf("ws://%s:%d%s", host, port, path)
	} else {
		broker = fmt.Sprintf("tcp://%s:%d", host, port)
	}

	lostCh := make(chan error, 1)
	echoCh := make(chan time.Time, 1)

	opts := mqtt.NewClientOptions().
		AddBroker(broker).
		SetClientID(clientID).
		SetUsername(username).
		SetPassword(password).
		SetCleanSession(true).
		SetProtocolVersion(4).
		SetKeepAlive(time.Duration(keepalive) * time.Second).
		SetAutoReconnect(false).
		SetConnectTimeout(setup).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case lostCh <- err:
			default:
			}
		})
	if tlsConfig != nil {
		opts.SetTLSConfig(tlsConfig)
	}
	client := mqtt.NewClient(opts)

	// CONNACK
	tok := client.Connect()
	if !tok.WaitTimeout(setup + time.Second) {
		lost("no CONNACK within " + setupText + " s")
	}
	if err := tok.Error(); err != nil {
		if ct, ok := tok.(*mqtt.ConnectToken); ok && ct.ReturnCode() >= 1 && ct.ReturnCode() <= 5 {
			out("refused: " + oneLine(err.Error()))
			os.Exit(1)
		}
		lost(err.Error())
	}
	t0 := time.Now()

	// SUBACK
	sub := client.Subscribe(topic, 0, func(_ mqtt.Client, m mqtt.Message) {
		if m.Topic() == topic && string(m.Payload()) == payload {
			select {
			case echoCh <- time.Now():
			default:
			}
		}
	})
	subDone := make(chan struct{})
	go func() { sub.Wait(); close(subDone) }()
	select {
	case <-subDone:
		if err := sub.Error(); err != nil {
			select {
			case e := <-lostCh:
				lost(e.Error())
			default:
			}
			fail("subscribe to %s failed: %v", topic, err)
		}
		if st, ok := sub.(*mqtt.SubscribeToken); ok {
			if q, ok := st.Result()[topic]; ok && q >= 0x80 {
				fail("subscription to %s refused by the broker (0x%x)", topic, q)
			}
		}
	case err := <-lostCh:
		lost(err.Error())
	case <-time.After(setup):
		lost("no SUBACK within " + setupText + " s")
	}

	// Hold: nothing of ours on the wire, only the library's keepalive.
	select {
	case err := <-lostCh:
		lost(err.Error())
	case <-time.After(hold - time.Since(t0)):
	}

	// Round trip
	sentAt := time.Now()
	client.Publish(topic, 0, false, payload)
	var ms float64
	select {
	case at := <-echoCh:
		ms = float64(at.Sub(sentAt)) / float64(time.Millisecond)
	case err := <-lostCh:
		lost(err.Error())
	case <-time.After(roundTrip):
		lost("no round trip within " + rtText + " s")
	}

	// Clean MQTT DISCONNECT (waits up to 250 ms for in-flight work).
	client.Disconnect(250)
	out(fmt.Sprintf("done: round trip %.0f ms", ms))
	os.Exit(0)
}
