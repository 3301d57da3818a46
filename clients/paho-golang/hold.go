// Hold program for paho.golang (github.com/eclipse/paho.golang), Eclipse's MQTT 5 Go client,
// through its autopaho connection manager (ws:// and wss:// over gorilla/websocket), built by
// clients/setup.sh in module mode with clients/paho-golang/<version>/go.mod and go.sum (every
// module checked against go.sum, -mod=readonly).
//
// Implements the mosquitto-matrix command-client contract v3 (see clients/README.md) under
// MQTT 5 only (MATRIX_PROTOCOL must be 5; matrix.toml says protocol = "5"): connect over
// WebSocket (ws://host:port/path, subprotocol "mqtt"), over WebSocket in TLS (wss://, when
// MATRIX_CA_FILE names the only CA to trust) or TCP (mqtt://host:port), clean start, subscribe
// to MATRIX_TOPIC, hold for MATRIX_HOLD_SECS from CONNACK with only the library's own
// keepalive traffic, then publish one QoS-0 message and wait for it to come back. autopaho
// reconnects by default: OnConnectionDown returns false, and the first failed attempt ends the
// program, so there is no reconnecting.
//
// On a loss it prints `lost: <the library's error>` (OnClientError's error, the network error
// the client saw), else `lost: connection down`.
//
// paho.golang has no version constant: the version is stamped in at build time (-ldflags
// "-X main.libVersion=...") from the version folder's go.mod.
//
// Go reads the clock through the vDSO, not through libc, so a preloaded libfaketime cannot
// speed it up: an accelerated run runs this column on real time with its hold already divided
// by the speed and keepalive 0 (matrix.toml: accelerates = false; clients/README.md).
//
// `hold --version` prints only the `client:` line.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
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

// first sends v on ch unless something was sent before.
func first[T any](ch chan T, v T) {
	select {
	case ch <- v:
	default:
	}
}

func main() {
	out("client: paho.golang " + libVersion)
	for _, a := range os.Args[1:] {
		if a == "--version" {
			os.Exit(0)
		}
	}

	if p := env("MATRIX_PROTOCOL", "3.1.1"); p != "5" {
		fail("MATRIX_PROTOCOL=%q: this client speaks MQTT 5 only (protocol = \"5\" in matrix.toml)", p)
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
	if keepalive > 65535 {
		fail("MATRIX_KEEPALIVE_SECS=%d is more than MQTT allows (65535)", keepalive)
	}
	hold := envSecs("MATRIX_HOLD_SECS", "")
	roundTrip := envSecs("MATRIX_ROUND_TRIP_SECS", "10")
	setup := envSecs("MATRIX_SETUP_SECS", "20")
	setupText := strconv.FormatFloat(setup.Seconds(), 'g', -1, 64)
	rtText := strconv.FormatFloat(roundTrip.Seconds(), 'g', -1, 64)
	topic := env("MATRIX_TOPIC", "")
	payload := "alive " + clientID

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

	var raw string
	switch {
	case transport == "ws" && tlsConfig != nil:
		raw = fmt.Sprintf("wss://%s:%d%s", host, port, path)
	case transport == "ws":
		raw = fmt.Sprintf("ws://%s:%d%s", host, port, path)
	default:
		raw = fmt.Sprintf("mqtt://%s:%d", host, port)
	}
	server, err := url.Parse(raw)
	if err != nil {
		fail("%s: %v", raw, err)
	}

	upCh := make(chan *paho.Connack, 1)
	connectErrCh := make(chan error, 1)
	clientErrCh := make(chan error, 1)
	downCh := make(chan struct{}, 1)
	serverGoneCh := make(chan *paho.Disconnect, 1)
	echoCh := make(chan time.Time, 1)

	cfg := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{server},
		TlsCfg:                        tlsConfig,
		KeepAlive:                     uint16(keepalive),
		CleanStartOnInitialConnection: true,
		SessionExpiryInterval:         0,
		ConnectTimeout:                setup,
		ReconnectBackoff:              func(int) time.Duration { return 0 },
		ConnectUsername:               username,
		ConnectPassword:               []byte(password),
		OnConnectionUp:                func(_ *autopaho.ConnectionManager, c *paho.Connack) { first(upCh, c) },
		OnConnectionDown:              func() bool { first(downCh, struct{}{}); return false },
		OnConnectError:                func(e error) { first(connectErrCh, e) },
		ClientConfig: paho.ClientConfig{
			ClientID: clientID,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){
				func(p paho.PublishReceived) (bool, error) {
					if p.Packet.Topic == topic && string(p.Packet.Payload) == payload {
						first(echoCh, time.Now())
					}
					return true, nil
				},
			},
			OnClientError:      func(e error) { first(clientErrCh, e) },
			OnServerDisconnect: func(d *paho.Disconnect) { first(serverGoneCh, d) },
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cm, err := autopaho.NewConnection(ctx, cfg)
	if err != nil {
		fail("autopaho.NewConnection: %v", err)
	}

	// The words for a connection that went down: the library's error if it reported one.
	downWords := func() string {
		select {
		case e := <-clientErrCh:
			return e.Error()
		case d := <-serverGoneCh:
			return fmt.Sprintf("server sent DISCONNECT, reason code 0x%02x", d.ReasonCode)
		case <-time.After(100 * time.Millisecond):
			return "connection down"
		}
	}

	// CONNACK
	select {
	case <-upCh:
	case e := <-connectErrCh:
		var refused *autopaho.ConnackError
		if errors.As(e, &refused) {
			out("refused: " + oneLine(e.Error()))
			os.Exit(1)
		}
		lost(e.Error())
	case <-time.After(setup + time.Second):
		lost("no CONNACK within " + setupText + " s")
	}
	t0 := time.Now()

	// SUBACK
	subCtx, subCancel := context.WithTimeout(ctx, setup)
	suback, err := cm.Subscribe(subCtx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: 0}}})
	subCancel()
	if err != nil {
		select {
		case <-downCh:
			lost(downWords())
		default:
		}
		if errors.Is(err, context.DeadlineExceeded) {
			lost("no SUBACK within " + setupText + " s")
		}
		fail("subscribe to %s failed: %v", topic, err)
	}
	if len(suback.Reasons) > 0 && suback.Reasons[0] >= 0x80 {
		fail("subscription to %s refused by the broker (0x%x)", topic, suback.Reasons[0])
	}

	// Hold: nothing of ours on the wire, only the library's keepalive.
	select {
	case <-downCh:
		lost(downWords())
	case <-time.After(hold - time.Since(t0)):
	}

	// Round trip
	sentAt := time.Now()
	pubCtx, pubCancel := context.WithTimeout(ctx, roundTrip)
	if _, err := cm.Publish(pubCtx, &paho.Publish{Topic: topic, QoS: 0, Payload: []byte(payload)}); err != nil {
		pubCancel()
		select {
		case <-downCh:
			lost(downWords())
		default:
		}
		lost("publish failed: " + err.Error())
	}
	pubCancel()
	var ms float64
	select {
	case at := <-echoCh:
		ms = float64(at.Sub(sentAt)) / float64(time.Millisecond)
	case <-downCh:
		lost(downWords())
	case <-time.After(roundTrip):
		lost("no round trip within " + rtText + " s")
	}

	// Clean MQTT DISCONNECT, bounded by the round-trip time.
	dctx, dcancel := context.WithTimeout(context.Background(), roundTrip)
	_ = cm.Disconnect(dctx)
	dcancel()
	out(fmt.Sprintf("done: round trip %.0f ms", ms))
	os.Exit(0)
}
