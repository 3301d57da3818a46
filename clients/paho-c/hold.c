/*
 * Hold program for Eclipse Paho C (MQTTAsync, Debian's libpaho-mqtt-dev).
 *
 * Implements the mosquitto-matrix command-client contract v3 (the README's "The
 * command contract"): connect with MQTT 3.1.1 or, when MATRIX_PROTOCOL is 5, MQTT 5
 * through the async v5 API (MQTTVERSION_5, the *5 callbacks), over WebSocket (ws://host:port/path)
 * or TCP (tcp://host:port), subscribe to MATRIX_TOPIC, hold for
 * MATRIX_HOLD_SECS from CONNACK with only the library's own keepalive
 * traffic, then publish one QoS-0 message and wait for it to come back.
 * automaticReconnect = 0: no reconnecting.
 *
 * TLS (contract v3, MATRIX_CA_FILE set): wss://host:port/path with the SSL options'
 * trustStore = MATRIX_CA_FILE, server certificate and host name checked. Paho C's TLS is
 * its other library, paho-mqtt3as; `hold` stays linked to paho-mqtt3a, so the plain path
 * is unchanged, and hands a TLS cell to `hold-tls` beside it: this same file built with
 * -DMATRIX_TLS against paho-mqtt3as (clients/setup.sh builds both).
 *
 * Paho's callbacks run on its own threads and only record what happened; the
 * main thread polls those records with a short sleep and decides.
 *
 * MQTTAsync's connectionLost callback gets cause == NULL in this version
 * (MQTTAsync.h: "Currently, cause is always set to NULL"), so the words
 * printed after `lost:` come from the library's trace (MQTTAsync_setTraceCallback
 * at MQTTASYNC_TRACE_MINIMUM): its last error-level line, else the first line
 * that names a failure (e.g. "Error from MQTTAsync_cycle() - removing socket 3",
 * "PINGRESP not received in keepalive interval ..."), else a fixed text.
 * MATRIX_PAHO_C_TRACE=N (1 maximum .. 4 protocol) copies every trace line at
 * that level to stderr; 4 shows the packets and "Sending WebSocket PONG".
 *
 * Build: gcc -O2 -Wall -o target/clients/paho-c/hold clients/paho-c/hold.c -lpaho-mqtt3a
 * `hold --version` prints only the `client:` line.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <MQTTAsync.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* What the callbacks saw (guarded by mu). */
static int connect_done;       /* 1 accepted, -1 failed */
static int connect_code;
static char connect_words[512];
static double connack_at;
static int suback_done;        /* 1 granted, -1 failed */
static int suback_qos;
static char suback_words[512];
static int lost_flag;
static char lost_cause[512];
static double echo_at;
static int disconnect_done;
static char last_trace[512];   /* latest trace line at level >= ERROR */
static char cause_trace[512];  /* first lower-level trace line naming a failure */
static int trace_to_stderr;

static const char *topic;
static char payload[1024];

static double now_secs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Copy src into dst (size n) with all whitespace runs squeezed to one space. */
static void one_line(char *dst, size_t n, const char *src)
{
	size_t j = 0;
	int space = 0;
	if (n == 0)
		return;
	for (; src && *src && j + 1 < n; ++src) {
		if (*src == ' ' || *src == '\t' || *src == '\r' || *src == '\n') {
			space = j > 0;
			continue;
		}
		if (space && j + 1 < n - 1)
			dst[j++] = ' ';
		space = 0;
		dst[j++] = *src;
	}
	dst[j] = '\0';
}

static void out(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

/*
 * End the program once its line is written. Paho's send and receive threads may still be
 * running here, so this is _exit, not exit or a return from main: no MQTTAsync_destroy and
 * no atexit handlers (OpenSSL's cleanup in hold-tls). Paho C's teardown can race its own
 * receive thread: once in CI a TLS v5 cell printed "done: round trip 19 ms" and then
 * died of "double free or corruption (fasttop)", which the contract rightly made ERROR
 * (paho.mqtt.c issues #1194, #1459 report the same kind of crash). The cell's answer is
 * decided before this point; the kernel frees the rest.
 */
static void finish(int status)
{
	fflush(stdout);
	fflush(stderr);
	_exit(status);
}

static void die(const char *fmt, ...)
{
	va_list ap;
	fputs("error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	finish(2);
}

static const char *env(const char *name, const char *fallback)
{
	const char *v = getenv(name);
	if (v == NULL || *v == '\0') {
		if (fallback)
			return fallback;
		die("%s is not set", name);
	}
	return v;
}

static double env_num(const char *name, const char *fallback)
{
	const char *raw = env(name, fallback);
	char *end = NULL;
	double v = strtod(raw, &end);
	if (end == raw || *end != '\0' || v < 0)
		die("%s=%s is not a non-negative number", name, raw);
	return v;
}

static long env_int(const char *name)
{
	const char *raw = env(name, NULL);
	char *end = NULL;
	long v = strtol(raw, &end, 10);
	if (end == raw || *end != '\0' || v < 0)
		die("%s=%s is not a non-negative integer", name, raw);
	return v;
}

/* ---------------------------------------------------------- callbacks --- */

/* Does a trace message say why the connection failed? */
static int is_cause(const char *m)
{
	static const char *const words[] = { "error", "disconnecting", "not received",
		"closed", "failed", "timeout", "timed out", "refused", "reset", NULL };
	char low[512];
	size_t i;
	for (i = 0; m[i] && i + 1 < sizeof low; ++i)
		low[i] = (m[i] >= 'A' && m[i] <= 'Z') ? (char)(m[i] - 'A' + 'a') : m[i];
	low[i] = '\0';
	for (i = 0; words[i]; ++i)
		if (strstr(low, words[i]))
			return 1;
	return 0;
}

static void on_trace(enum MQTTASYNC_TRACE_LEVELS level, char *message)
{
	const char *m = message ? message : "";
	if (trace_to_stderr) {
		fprintf(stderr, "trace %d: %s\n", (int)level, m);
		fflush(stderr);
	}
	/* Paho prefixes "YYYYMMDD HHMMSS.mmm "; drop it. Function entry/exit
	 * lines then start with "(thread id)": not words about a failure. */
	if (strlen(m) > 20 && m[8] == ' ' && m[19] == ' ')
		m += 20;
	if (*m == '(')
		return;
	pthread_mutex_lock(&mu);
	if (level >= MQTTASYNC_TRACE_ERROR)
		one_line(last_trace, sizeof last_trace, m);
	else if (!cause_trace[0] && is_cause(m))
		one_line(cause_trace, sizeof cause_trace, m);
	pthread_mutex_unlock(&mu);
}

static void on_connect_success(void *ctx, MQTTAsync_successData *resp)
{
	(void)ctx;
	(void)resp;
	pthread_mutex_lock(&mu);
	connack_at = now_secs();
	connect_done = 1;
	pthread_mutex_unlock(&mu);
}

static void on_connect_failure(void *ctx, MQTTAsync_failureData *resp)
{
	(void)ctx;
	pthread_mutex_lock(&mu);
	connect_code = resp ? resp->code : MQTTASYNC_FAILURE;
	if (resp && resp->message)
		one_line(connect_words, sizeof connect_words, resp->message);
	else
		one_line(connect_words, sizeof connect_words, MQTTAsync_strerror(connect_code));
	connect_done = -1;
	pthread_mutex_unlock(&mu);
}

static void on_sub_success(void *ctx, MQTTAsync_successData *resp)
{
	(void)ctx;
	pthread_mutex_lock(&mu);
	suback_qos = resp ? resp->alt.qos : 0;
	suback_done = 1;
	pthread_mutex_unlock(&mu);
}

static void on_sub_failure(void *ctx, MQTTAsync_failureData *resp)
{
	(void)ctx;
	pthread_mutex_lock(&mu);
	if (resp && resp->message)
		one_line(suback_words, sizeof suback_words, resp->message);
	else
		one_line(suback_words, sizeof suback_words,
			MQTTAsync_strerror(resp ? resp->code : MQTTASYNC_FAILURE));
	suback_done = -1;
	pthread_mutex_unlock(&mu);
}

static void on_disconnect_success(void *ctx, MQTTAsync_successData *resp);
static void on_disconnect_failure(void *ctx, MQTTAsync_failureData *resp);

/* MQTT 5: the same, through the v5 callbacks the library requires of a v5 client. */
static void on_connect_success5(void *ctx, MQTTAsync_successData5 *resp)
{
	(void)resp;
	on_connect_success(ctx, NULL);
}

static void on_connect_failure5(void *ctx, MQTTAsync_failureData5 *resp)
{
	(void)ctx;
	pthread_mutex_lock(&mu);
	connect_code = resp ? resp->code : MQTTASYNC_FAILURE;
	if (resp && resp->reasonCode)
		connect_code = resp->reasonCode;
	if (resp && resp->message)
		one_line(connect_words, sizeof connect_words, resp->message);
	else if (resp && resp->reasonCode)
		one_line(connect_words, sizeof connect_words, MQTTReasonCode_toString(resp->reasonCode));
	else
		one_line(connect_words, sizeof connect_words, MQTTAsync_strerror(connect_code));
	connect_done = -1;
	pthread_mutex_unlock(&mu);
}

static void on_sub_success5(void *ctx, MQTTAsync_successData5 *resp)
{
	(void)ctx;
	pthread_mutex_lock(&mu);
	suback_qos = resp ? resp->reasonCode : 0;
	suback_done = 1;
	pthread_mutex_unlock(&mu);
}

static void on_sub_failure5(void *ctx, MQTTAsync_failureData5 *resp)
{
	(void)ctx;
	pthread_mutex_lock(&mu);
	one_line(suback_words, sizeof suback_words,
		resp && resp->message ? resp->message : MQTTReasonCode_toString(resp ? resp->reasonCode : MQTTREASONCODE_UNSPECIFIED_ERROR));
	suback_done = -1;
	pthread_mutex_unlock(&mu);
}

static void on_disconnect_success5(void *ctx, MQTTAsync_successData5 *resp)
{
	(void)resp;
	on_disconnect_success(ctx, NULL);
}

static void on_disconnect_failure5(void *ctx, MQTTAsync_failureData5 *resp)
{
	(void)resp;
	on_disconnect_failure(ctx, NULL);
}

/* MQTT 5: the broker's DISCONNECT, with its reason code, before the connection goes. */
static void on_disconnected5(void *ctx, MQTTProperties *props, enum MQTTReasonCodes rc)
{
	(void)ctx;
	(void)props;
	pthread_mutex_lock(&mu);
	snprintf(lost_cause, sizeof lost_cause, "broker sent DISCONNECT 0x%02X (%s)", (unsigned)rc, MQTTReasonCode_toString(rc));
	pthread_mutex_unlock(&mu);
}

static void on_disconnect_success(void *ctx, MQTTAsync_successData *resp)
{
	(void)ctx;
	(void)resp;
	pthread_mutex_lock(&mu);
	disconnect_done = 1;
	pthread_mutex_unlock(&mu);
}

static void on_disconnect_failure(void *ctx, MQTTAsync_failureData *resp)
{
	(void)ctx;
	(void)resp;
	pthread_mutex_lock(&mu);
	disconnect_done = -1;
	pthread_mutex_unlock(&mu);
}

static void on_connection_lost(void *ctx, char *cause)
{
	(void)ctx;
	pthread_mutex_lock(&mu);
	if (cause && *cause)
		one_line(lost_cause, sizeof lost_cause, cause);
	lost_flag = 1;
	pthread_mutex_unlock(&mu);
}

static int on_message(void *ctx, char *topic_name, int topic_len, MQTTAsync_message *msg)
{
	size_t tl = topic_len > 0 ? (size_t)topic_len : strlen(topic_name);
	(void)ctx;
	if (tl == strlen(topic) && memcmp(topic_name, topic, tl) == 0 &&
	    (size_t)msg->payloadlen == strlen(payload) &&
	    memcmp(msg->payload, payload, (size_t)msg->payloadlen) == 0) {
		pthread_mutex_lock(&mu);
		if (echo_at == 0)
			echo_at = now_secs();
		pthread_mutex_unlock(&mu);
	}
	MQTTAsync_freeMessage(&msg);
	MQTTAsync_free(topic_name);
	return 1;
}

/* ----------------------------------------------------------------- main --- */

static void lost_exit(void)
{
	char words[1100];
	pthread_mutex_lock(&mu);
	if (lost_cause[0] && last_trace[0])
		snprintf(words, sizeof words, "%s (%s)", lost_cause, last_trace);
	else if (lost_cause[0])
		snprintf(words, sizeof words, "%s", lost_cause);
	else if (last_trace[0])
		snprintf(words, sizeof words, "%s", last_trace);
	else if (cause_trace[0])
		snprintf(words, sizeof words, "%s", cause_trace);
	else
		snprintf(words, sizeof words, "connection lost (MQTTAsync gave no cause)");
	pthread_mutex_unlock(&mu);
	out("lost: %s", words);
	finish(1);
}

static int is_lost(void)
{
	int v;
	pthread_mutex_lock(&mu);
	v = lost_flag;
	pthread_mutex_unlock(&mu);
	return v;
}

#ifndef MATRIX_TLS
/* A TLS cell goes to hold-tls beside this program (see the head of the file). */
static void tls_elsewhere(char **argv)
{
	const char *ca = getenv("MATRIX_CA_FILE");
	if (!ca || !*ca)
		return;
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 8);
	if (n <= 0) {
		fprintf(stderr, "error: MATRIX_CA_FILE is set, but /proc/self/exe cannot be read to find hold-tls: %s\n", strerror(errno));
		exit(2);
	}
	memcpy(self + n, "-tls", 5);
	execv(self, argv);
	fprintf(stderr, "error: MATRIX_CA_FILE is set, but %s cannot be started: %s; run bash clients/setup.sh\n", self, strerror(errno));
	exit(2);
}
#endif

int main(int argc, char **argv)
{
#ifndef MATRIX_TLS
	tls_elsewhere(argv);
#endif
	const char *version = "unknown";
	MQTTAsync_nameValue *info = MQTTAsync_getVersionInfo();
	int i;
	for (i = 0; info && info[i].name; ++i)
		if (strcmp(info[i].name, "Version") == 0)
			version = info[i].value;
	out("client: paho.mqtt.c %s", version);
	for (i = 1; i < argc; ++i)
		if (strcmp(argv[i], "--version") == 0)
			return 0;

	const char *transport = env("MATRIX_TRANSPORT", NULL);
	if (strcmp(transport, "ws") != 0 && strcmp(transport, "tcp") != 0)
		die("MATRIX_TRANSPORT=%s is neither ws nor tcp", transport);
	const char *host = env("MATRIX_HOST", NULL);
	long port = env_int("MATRIX_PORT");
	const char *path = env("MATRIX_PATH", "/mqtt");
	const char *username = env("MATRIX_USERNAME", NULL);
	const char *password = getenv("MATRIX_PASSWORD") ? getenv("MATRIX_PASSWORD") : "";
	const char *client_id = env("MATRIX_CLIENT_ID", NULL);
	long keepalive = env_int("MATRIX_KEEPALIVE_SECS");
	double hold = env_num("MATRIX_HOLD_SECS", NULL);
	double round_trip = env_num("MATRIX_ROUND_TRIP_SECS", "10");
	/* contract v2: the bound on connect + upgrade + CONNACK and on SUBACK, on this clock */
	double setup = env_num("MATRIX_SETUP_SECS", "20");
	topic = env("MATRIX_TOPIC", NULL);
	snprintf(payload, sizeof payload, "alive %s", client_id);
	trace_to_stderr = getenv("MATRIX_PAHO_C_TRACE") ? atoi(getenv("MATRIX_PAHO_C_TRACE")) : 0;

	char uri[1024];
#ifdef MATRIX_TLS
	const char *ca_file = env("MATRIX_CA_FILE", NULL);
	const char *ws_scheme = "wss";
#else
	const char *ws_scheme = "ws";
#endif
	if (strcmp(transport, "ws") == 0)
		snprintf(uri, sizeof uri, "%s://%s:%ld%s%s", ws_scheme, host, port, path[0] == '/' ? "" : "/", path);
	else
		snprintf(uri, sizeof uri, "tcp://%s:%ld", host, port);

	MQTTAsync_setTraceCallback(on_trace);
	MQTTAsync_setTraceLevel(trace_to_stderr ? (enum MQTTASYNC_TRACE_LEVELS)trace_to_stderr : MQTTASYNC_TRACE_MINIMUM);

	/* contract v2: MATRIX_PROTOCOL picks the MQTT version (3.1.1 when unset) */
	const char *protocol = env("MATRIX_PROTOCOL", "3.1.1");
	if (strcmp(protocol, "3.1.1") != 0 && strcmp(protocol, "5") != 0)
		die("MATRIX_PROTOCOL=%s is neither 3.1.1 nor 5", protocol);
	int v5 = strcmp(protocol, "5") == 0;

	MQTTAsync client;
	MQTTAsync_createOptions create = MQTTAsync_createOptions_initializer;
	create.MQTTVersion = v5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
	int rc = MQTTAsync_createWithOptions(&client, uri, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL, &create);
	if (rc != MQTTASYNC_SUCCESS)
		die("MQTTAsync_create(%s): %s", uri, MQTTAsync_strerror(rc));
	if (v5 && (rc = MQTTAsync_setDisconnected(client, NULL, on_disconnected5)) != MQTTASYNC_SUCCESS)
		die("MQTTAsync_setDisconnected: %s", MQTTAsync_strerror(rc));
	rc = MQTTAsync_setCallbacks(client, NULL, on_connection_lost, on_message, NULL);
	if (rc != MQTTASYNC_SUCCESS)
		die("MQTTAsync_setCallbacks: %s", MQTTAsync_strerror(rc));

	MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
	MQTTAsync_connectOptions co5 = MQTTAsync_connectOptions_initializer5;
	if (v5) {
		co = co5;
		co.cleanstart = 1;
		co.onSuccess5 = on_connect_success5;
		co.onFailure5 = on_connect_failure5;
	} else {
		co.cleansession = 1;
		co.MQTTVersion = MQTTVERSION_3_1_1;
		co.onSuccess = on_connect_success;
		co.onFailure = on_connect_failure;
	}
	co.keepAliveInterval = (int)keepalive;
	co.username = username;
	co.password = password;
	co.automaticReconnect = 0;
	co.connectTimeout = setup < 1 ? 1 : (int)(setup + 0.999);
	co.context = client;
#ifdef MATRIX_TLS
	MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
	ssl.trustStore = ca_file;        /* the run's CA, and nothing else */
	ssl.enableServerCertAuth = 1;
	ssl.verify = 1;                  /* the certificate must name MATRIX_HOST */
	co.ssl = &ssl;
#endif

	double start = now_secs();
	rc = MQTTAsync_connect(client, &co);
	if (rc != MQTTASYNC_SUCCESS) {
		out("lost: %s", MQTTAsync_strerror(rc));
		finish(1);
	}

	/* CONNACK */
	for (;;) {
		int done;
		pthread_mutex_lock(&mu);
		done = connect_done;
		pthread_mutex_unlock(&mu);
		if (done == 1)
			break;
		if (done == -1) {
			/* 1..5 are MQTT 3.1.1 CONNACK return codes, 0x80 and up MQTT 5 reason codes */
			if ((connect_code >= 1 && connect_code <= 5) || connect_code >= 0x80)
				out("refused: %s (code %d)", connect_words, connect_code);
			else {
				pthread_mutex_lock(&mu);
				if (last_trace[0])
					out("lost: %s (%s)", connect_words, last_trace);
				else
					out("lost: %s", connect_words);
				pthread_mutex_unlock(&mu);
			}
			finish(1);
		}
		if (is_lost())
			lost_exit();
		if (now_secs() - start > setup + 1) {
			out("lost: no CONNACK within %g s", setup);
			finish(1);
		}
		sleep_ms(10);
	}
	double t0 = connack_at;

	/* SUBACK */
	MQTTAsync_responseOptions so = MQTTAsync_responseOptions_initializer;
	if (v5) {
		so.onSuccess5 = on_sub_success5;
		so.onFailure5 = on_sub_failure5;
	} else {
		so.onSuccess = on_sub_success;
		so.onFailure = on_sub_failure;
	}
	so.context = client;
	rc = MQTTAsync_subscribe(client, topic, 0, &so);
	if (rc != MQTTASYNC_SUCCESS) {
		if (is_lost())
			lost_exit();
		die("MQTTAsync_subscribe: %s", MQTTAsync_strerror(rc));
	}
	double sub_start = now_secs();
	for (;;) {
		int done;
		pthread_mutex_lock(&mu);
		done = suback_done;
		pthread_mutex_unlock(&mu);
		if (done == 1)
			break;
		if (is_lost())
			lost_exit();
		if (done == -1)
			die("subscribe to %s failed: %s", topic, suback_words);
		if (now_secs() - sub_start > setup) {
			out("lost: no SUBACK within %g s", setup);
			finish(1);
		}
		sleep_ms(10);
	}
	if (suback_qos >= 0x80)
		die("subscription to %s refused by the broker (0x%x)", topic, suback_qos);

	/* Hold: nothing of ours on the wire, only the library's keepalive. The library reports a
	   loss by itself; this loop only notices it, so it wakes rarely: under a clock ×N its
	   sleeps shrink N times, and 32 copies of a 20 ms loop at ×10 kept a core busy. */
	while (now_secs() - t0 < hold) {
		if (is_lost())
			lost_exit();
		double left = hold - (now_secs() - t0);
		sleep_ms(left > 0.5 ? 500 : (long)(left * 1000.0) + 1);
	}
	if (is_lost())
		lost_exit();

	/* Round trip */
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	msg.payload = payload;
	msg.payloadlen = (int)strlen(payload);
	msg.qos = 0;
	msg.retained = 0;
	MQTTAsync_responseOptions po = MQTTAsync_responseOptions_initializer;
	double sent_at = now_secs();
	rc = MQTTAsync_sendMessage(client, topic, &msg, &po);
	if (rc != MQTTASYNC_SUCCESS) {
		if (is_lost())
			lost_exit();
		out("lost: %s", MQTTAsync_strerror(rc));
		finish(1);
	}
	double got = 0;
	for (;;) {
		pthread_mutex_lock(&mu);
		got = echo_at;
		pthread_mutex_unlock(&mu);
		if (got != 0)
			break;
		if (is_lost())
			lost_exit();
		if (now_secs() - sent_at > round_trip) {
			out("lost: no round trip within %g s", round_trip);
			finish(1);
		}
		sleep_ms(2);
	}
	double ms = (got - sent_at) * 1000.0;

	/* Clean MQTT DISCONNECT */
	MQTTAsync_disconnectOptions dopt = MQTTAsync_disconnectOptions_initializer;
	MQTTAsync_disconnectOptions dopt5 = MQTTAsync_disconnectOptions_initializer5;
	if (v5) {
		dopt = dopt5;
		dopt.onSuccess5 = on_disconnect_success5;
		dopt.onFailure5 = on_disconnect_failure5;
	} else {
		dopt.onSuccess = on_disconnect_success;
		dopt.onFailure = on_disconnect_failure;
	}
	dopt.timeout = 1000;
	dopt.context = client;
	if (MQTTAsync_disconnect(client, &dopt) == MQTTASYNC_SUCCESS) {
		double d0 = now_secs();
		for (;;) {
			int done;
			pthread_mutex_lock(&mu);
			done = disconnect_done;
			pthread_mutex_unlock(&mu);
			if (done != 0 || now_secs() - d0 > 2.0)
				break;
			sleep_ms(5);
		}
	}
	out("done: round trip %.0f ms", ms);
	finish(0);
}
