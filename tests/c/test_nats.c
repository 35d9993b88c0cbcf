/* Tests of the NATS JetStream bridge through the C API
 * (ringmq_nats_bridge_*): bad configurations and NULL arguments (no server
 * needed), each failed start's reason in this thread's ringmq_last_error()
 * (and only this thread's), a bridge to an unreachable server, and, with
 * RINGMQ_NATS_URL set to a NATS server with JetStream, a round trip: one
 * bridge exports a topic
 * into a stream, a second imports that stream into another topic, read back
 * with a pull subscription.
 *
 * Build and run: scripts/test-nats.sh (plain and under ASan+UBSan). */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "ringmq.h"
#include "timing.h"

#define UNREACHABLE "nats://127.0.0.1:1"

static ringmq_broker *new_broker(void) {
    ringmq_broker *b = NULL;
    OK(ringmq_broker_new(NULL, &b));
    return b;
}

static ringmq_topic *topic(ringmq_broker *b, const char *name) {
    ringmq_topic *t = NULL;
    OK(ringmq_topic_create(b, name, NULL, &t));
    return t;
}

static ringmq_nats_stats bridge_stats(const ringmq_nats_bridge *br) {
    ringmq_nats_stats s;
    memset(&s, 0xff, sizeof s);
    OK(ringmq_nats_bridge_stats(br, &s));
    return s;
}

/* ---- no server needed ------------------------------------------------ */

static void test_bad_configuration(void) {
    ringmq_broker *b = new_broker();
    ringmq_topic *t = topic(b, "orders");
    ringmq_nats_bridge *br = (ringmq_nats_bridge *)(uintptr_t)8; /* not NULL: must be reset */

    CHECK_ERR(ringmq_nats_bridge_start(b, "{\"id\":", &br), RINGMQ_INVALID_ARGUMENT,
              "bad JSON configuration");
    CHECK(br == NULL);
    CHECK(strncmp(ringmq_last_error(), "ringmq_nats_bridge_start: ", 26) == 0);
    CHECK_ERR(ringmq_nats_bridge_start(b, "[]", &br), RINGMQ_INVALID_ARGUMENT,
              "bad JSON configuration");
    CHECK_ERR(ringmq_nats_bridge_start(b, "{\"id\":\"x\",\"servers\":[]}", &br),
              RINGMQ_INVALID_ARGUMENT, "servers is empty");
    CHECK_ERR(ringmq_nats_bridge_start(b, "{\"id\":\"a b\",\"servers\":[\"" UNREACHABLE "\"]}", &br),
              RINGMQ_INVALID_ARGUMENT, "without whitespace");
    CHECK_ERR(ringmq_nats_bridge_start(
                  b,
                  "{\"id\":\"x\",\"servers\":[\"" UNREACHABLE "\"],"
                  "\"exports\":[{\"topic\":\"orders\",\"group\":\"g\",\"subjct\":\"s\"}]}",
                  &br),
              RINGMQ_INVALID_ARGUMENT, "unknown field `subjct`");
    CHECK_ERR(ringmq_nats_bridge_start(
                  b,
                  "{\"id\":\"x\",\"servers\":[\"" UNREACHABLE "\"],"
                  "\"exports\":[{\"topic\":\"missing\",\"group\":\"g\",\"subject\":\"s\"}]}",
                  &br),
              RINGMQ_INVALID_ARGUMENT, "export topic \"missing\" does not exist");
    CHECK_ERR(ringmq_nats_bridge_start(
                  b,
                  "{\"id\":\"x\",\"servers\":[\"" UNREACHABLE "\"],"
                  "\"reconnect_min\":\"2s\",\"reconnect_max\":\"1s\"}",
                  &br),
              RINGMQ_INVALID_ARGUMENT, "reconnect_max");
    CHECK_ERR(ringmq_nats_bridge_start(b, "{\"id\":\"\xff\"}", &br), RINGMQ_INVALID_ARGUMENT,
              "config_json is not valid UTF-8 (bad byte at offset 7)");
    CHECK(br == NULL);

    /* Nothing was left behind: the failed starts created no subscription. */
    ringmq_topic_stats ts;
    OK(ringmq_topic_get_stats(t, &ts));
    CHECK_EQ_U64(ts.subscriptions, 0);

    /* A closed broker takes no bridge. */
    OK(ringmq_broker_close(b, 0));
    CHECK_ST(ringmq_nats_bridge_start(
                 b,
                 "{\"id\":\"x\",\"servers\":[\"" UNREACHABLE "\"],"
                 "\"exports\":[{\"topic\":\"orders\",\"group\":\"g\",\"subject\":\"s\"}]}",
                 &br),
             RINGMQ_CLOSED);
    CHECK(br == NULL);
    CHECK(strstr(ringmq_last_error(), "ringmq_nats_bridge_start: RingMQ: broker is closed") != NULL);

    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

static void test_null_arguments(void) {
    ringmq_broker *b = new_broker();
    ringmq_topic *t = topic(b, "orders");
    ringmq_nats_bridge *br = NULL;
    const char *ok = "{\"id\":\"x\",\"servers\":[\"" UNREACHABLE "\"],"
                     "\"exports\":[{\"topic\":\"orders\",\"group\":\"nats\",\"subject\":\"o\"}]}";

    CHECK_ERR(ringmq_nats_bridge_start(NULL, ok, &br), RINGMQ_INVALID_ARGUMENT,
              "ringmq_nats_bridge_start: b is NULL");
    CHECK_ERR(ringmq_nats_bridge_start(b, NULL, &br), RINGMQ_INVALID_ARGUMENT,
              "config_json is NULL");
    CHECK_ERR(ringmq_nats_bridge_start(b, ok, NULL), RINGMQ_INVALID_ARGUMENT, "out is NULL");
    ringmq_nats_stats s;
    CHECK_ERR(ringmq_nats_bridge_stats(NULL, &s), RINGMQ_INVALID_ARGUMENT,
              "ringmq_nats_bridge_stats: br is NULL");
    CHECK_ERR(ringmq_nats_bridge_stop(NULL, 0), RINGMQ_INVALID_ARGUMENT,
              "ringmq_nats_bridge_stop: br is NULL");

    OK(ringmq_nats_bridge_start(b, ok, &br));
    CHECK(br != NULL);
    CHECK_ERR(ringmq_nats_bridge_stats(br, NULL), RINGMQ_INVALID_ARGUMENT, "out is NULL");
    OK(ringmq_nats_bridge_stop(br, 0));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

static void test_unreachable_server(void) {
    ringmq_broker *b = new_broker();
    ringmq_topic *t = topic(b, "orders");
    ringmq_nats_bridge *br = NULL;
    /* Starting does not wait for the server: it is retried in the background,
     * and nothing is taken from the topic meanwhile. */
    OK(ringmq_nats_bridge_start(b,
                                "{\"id\":\"x\",\"servers\":[\"" UNREACHABLE "\"],"
                                "\"exports\":[{\"topic\":\"orders\",\"group\":\"nats\",\"subject\":\"o\"}],"
                                "\"reconnect_min\":10,\"reconnect_max\":\"50ms\"}",
                                &br));
    OK(ringmq_publish(t, "m", 1, 0, 0, NULL));
    sleep_ms(100);
    ringmq_nats_stats s = bridge_stats(br);
    CHECK(!s.connected);
    CHECK_EQ_U64(s.exported, 0);
    CHECK_EQ_U64(s.in_flight, 0);
    OK(ringmq_nats_bridge_stop(br, 100));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

/* Every way ringmq_nats_bridge_start fails says why in this thread's
 * ringmq_last_error(), prefixed with the function's name, and leaves *out
 * NULL. A server that cannot be reached is not one of them: the connection
 * is made in the background (test_unreachable_server). */
static int32_t ack_handler(const ringmq_message *m, void *user_data) {
    (void)m;
    (void)user_data;
    return RINGMQ_HANDLER_ACK;
}

#define START_FAILS(json, want, text)                                          \
    do {                                                                       \
        ringmq_nats_bridge *br_ = (ringmq_nats_bridge *)(uintptr_t)8;          \
        CHECK_ERR(ringmq_nats_bridge_start(b, (json), &br_), (want), (text));  \
        CHECK(br_ == NULL);                                                    \
        CHECK(strncmp(ringmq_last_error(), "ringmq_nats_bridge_start: ", 26) == 0); \
    } while (0)

static void test_start_errors_say_why(void) {
    ringmq_broker *b = new_broker();
    ringmq_topic *t = topic(b, "orders");
    ringmq_topic *in = topic(b, "inbox");

    /* Not JSON, or JSON of another shape. */
    START_FAILS("", RINGMQ_INVALID_ARGUMENT, "bad bridge configuration: bad JSON configuration");
    START_FAILS("{}", RINGMQ_INVALID_ARGUMENT, "missing field `id`");
    START_FAILS("{\"id\":\"x\",\"servers\":\"" UNREACHABLE "\"}", RINGMQ_INVALID_ARGUMENT,
                "invalid type: string");
    /* Valid JSON, a bad field: the error names it. */
    START_FAILS("{\"id\":\"x\",\"servers\":[\"http://127.0.0.1:4222\"],"
                "\"exports\":[{\"topic\":\"orders\",\"group\":\"g\",\"subject\":\"s\"}]}",
                RINGMQ_INVALID_ARGUMENT, "server \"http://127.0.0.1:4222\" is not a NATS URL");
    START_FAILS("{\"id\":\"x\",\"servers\":[\"" UNREACHABLE "\"]}", RINGMQ_INVALID_ARGUMENT,
                "nothing to do: no exports and no imports");
    START_FAILS("{\"id\":\"x\",\"servers\":[\"" UNREACHABLE "\"],"
                "\"exports\":[{\"topic\":\"orders\",\"group\":\"g\",\"subject\":\"a.*\"}]}",
                RINGMQ_INVALID_ARGUMENT,
                "exports[0]: subject \"a.*\" is not a valid subject: wildcards are not allowed here");
    START_FAILS("{\"id\":\"x\",\"servers\":[\"" UNREACHABLE "\"],"
                "\"imports\":[{\"stream\":\"S\",\"consumer\":\"c\",\"topic\":\"inbox\","
                "\"group\":\"g\",\"batch\":0}]}",
                RINGMQ_INVALID_ARGUMENT, "imports[0]: batch is 0");
    START_FAILS("{\"id\":\"x\",\"servers\":[\"" UNREACHABLE "\"],"
                "\"imports\":[{\"stream\":\"S.1\",\"consumer\":\"c\",\"topic\":\"inbox\","
                "\"group\":\"g\"}]}",
                RINGMQ_INVALID_ARGUMENT, "imports[0]: stream \"S.1\" is not a JetStream name");
    START_FAILS("{\"id\":\"x\",\"servers\":[\"" UNREACHABLE "\"],\"reconnect_min\":\"soon\","
                "\"exports\":[{\"topic\":\"orders\",\"group\":\"g\",\"subject\":\"s\"}]}",
                RINGMQ_INVALID_ARGUMENT, "reconnect_min \"soon\" is not a duration");

    /* The broker's side: a topic that does not exist, an export group that
     * is a push subscription. */
    START_FAILS("{\"id\":\"x\",\"servers\":[\"" UNREACHABLE "\"],"
                "\"imports\":[{\"stream\":\"S\",\"consumer\":\"c\",\"topic\":\"nowhere\","
                "\"group\":\"g\"}]}",
                RINGMQ_INVALID_ARGUMENT, "import topic \"nowhere\" does not exist");
    ringmq_sub_options so;
    ringmq_sub_options_default(&so);
    ringmq_sub *push = NULL;
    OK(ringmq_subscribe(t, "pushed", ack_handler, NULL, &so, &push));
    START_FAILS("{\"id\":\"x\",\"servers\":[\"" UNREACHABLE "\"],"
                "\"exports\":[{\"topic\":\"orders\",\"group\":\"pushed\",\"subject\":\"s\"}]}",
                RINGMQ_INVALID_ARGUMENT,
                "RingMQ: subscription \"pushed\" of topic \"orders\" is a push subscription");

    /* None of those left a subscription behind (only the push one). */
    ringmq_topic_stats ts;
    OK(ringmq_topic_get_stats(t, &ts));
    CHECK_EQ_U64(ts.subscriptions, 1);
    OK(ringmq_topic_get_stats(in, &ts));
    CHECK_EQ_U64(ts.subscriptions, 0);

    /* A push subscription may be an import's group: its handlers settle
     * the imported messages. */
    ringmq_sub *handlers = NULL;
    OK(ringmq_subscribe(in, "handlers", ack_handler, NULL, &so, &handlers));
    ringmq_nats_bridge *br = NULL;
    OK(ringmq_nats_bridge_start(b,
                                "{\"id\":\"x\",\"servers\":[\"" UNREACHABLE "\"],"
                                "\"imports\":[{\"stream\":\"S\",\"consumer\":\"c\",\"topic\":\"inbox\","
                                "\"group\":\"handlers\"}]}",
                                &br));
    CHECK(br != NULL);
    OK(ringmq_nats_bridge_stop(br, 0));

    OK(ringmq_unsubscribe(handlers));
    OK(ringmq_unsubscribe(push));
    ringmq_topic_release(in);
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

/* The last error is the calling thread's: a failure on another thread
 * neither shows here nor replaces this thread's. */
typedef struct {
    ringmq_broker *b;
    ringmq_status st;
    char error[256];
} start_on_thread;

static void *start_elsewhere(void *arg) {
    start_on_thread *r = arg;
    ringmq_nats_bridge *br = NULL;
    r->st = ringmq_nats_bridge_start(r->b, "{\"id\":\"other thread\"}", &br);
    snprintf(r->error, sizeof r->error, "%s", ringmq_last_error());
    return NULL;
}

static void test_last_error_is_per_thread(void) {
    ringmq_broker *b = new_broker();
    ringmq_nats_bridge *br = NULL;
    CHECK_ERR(ringmq_nats_bridge_start(b, "{\"id\":\"this thread\"}", &br), RINGMQ_INVALID_ARGUMENT,
              "missing field `servers`");

    start_on_thread r = {.b = b, .st = RINGMQ_OK, .error = {0}};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, start_elsewhere, &r) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_ST(r.st, RINGMQ_INVALID_ARGUMENT);
    CHECK(strstr(r.error, "ringmq_nats_bridge_start: bad bridge configuration:") != NULL);
    CHECK(strstr(r.error, "missing field `servers`") != NULL);

    /* This thread's is still its own failure, and a success since (a
     * bridge to a server not reachable starts) leaves it as it was. */
    CHECK(strstr(ringmq_last_error(), "missing field `servers`") != NULL);
    ringmq_topic *t = topic(b, "orders");
    OK(ringmq_nats_bridge_start(b,
                                "{\"id\":\"x\",\"servers\":[\"" UNREACHABLE "\"],"
                                "\"exports\":[{\"topic\":\"orders\",\"group\":\"g\",\"subject\":\"s\"}]}",
                                &br));
    CHECK(strstr(ringmq_last_error(), "missing field `servers`") != NULL);
    OK(ringmq_nats_bridge_stop(br, 0));
    ringmq_topic_release(t);
    ringmq_broker_free(b);
}

/* ---- with a server --------------------------------------------------- */

#define ROUND_TRIP 40

static void test_round_trip(void) {
    const char *url = getenv("RINGMQ_NATS_URL");
    if (url == NULL || *url == '\0') {
        printf("skip   round_trip (RINGMQ_NATS_URL is not set)\n");
        return;
    }
    char run[32];
    snprintf(run, sizeof run, "%ld_%llu", (long)getpid(), (unsigned long long)now_ms());

    ringmq_broker *b = new_broker();
    ringmq_topic *orders = topic(b, "orders");
    ringmq_topic *copy = topic(b, "copy");
    ringmq_sub_options so;
    ringmq_sub_options_default(&so);
    so.start = RINGMQ_START_EARLIEST;
    ringmq_sub *reader = NULL;
    OK(ringmq_subscribe_pull(copy, "reader", &so, &reader));

    char config[1024];
    snprintf(config, sizeof config,
             "{\"id\":\"c-%s\",\"servers\":[\"%s\"],"
             "\"exports\":[{\"topic\":\"orders\",\"group\":\"nats\",\"subject\":\"c.%s.orders\","
             "\"stream\":\"C_%s\"}],\"reconnect_min\":\"50ms\",\"reconnect_max\":500}",
             run, url, run, run);
    ringmq_nats_bridge *exporter = NULL;
    OK(ringmq_nats_bridge_start(b, config, &exporter));

    for (int i = 0; i < ROUND_TRIP; i++) {
        char payload[32];
        int n = snprintf(payload, sizeof payload, "order-%d", i);
        OK(ringmq_publish(orders, payload, (size_t)n, (uint64_t)i, 1000, NULL));
    }
    ringmq_nats_stats s = bridge_stats(exporter);
    for (uint64_t deadline = now_ms() + 15000; s.exported < ROUND_TRIP && now_ms() < deadline;) {
        sleep_ms(20);
        s = bridge_stats(exporter);
    }
    CHECK_EQ_U64(s.exported, ROUND_TRIP);
    CHECK_EQ_U64(s.in_flight, 0);
    CHECK_EQ_U64(s.dead_lettered, 0);
    CHECK(s.connected);

    snprintf(config, sizeof config,
             "{\"id\":\"c-in-%s\",\"servers\":[\"%s\"],"
             "\"imports\":[{\"stream\":\"C_%s\",\"consumer\":\"c%s\",\"topic\":\"copy\","
             "\"group\":\"reader\",\"batch\":16}]}",
             run, url, run, run);
    ringmq_nats_bridge *importer = NULL;
    OK(ringmq_nats_bridge_start(b, config, &importer));

    bool seen[ROUND_TRIP] = {false};
    int got = 0;
    for (uint64_t deadline = now_ms() + 15000; got < ROUND_TRIP && now_ms() < deadline;) {
        ringmq_message m;
        ringmq_status st = ringmq_poll(reader, 200, &m);
        if (st == RINGMQ_EMPTY) continue;
        CHECK_ST(st, RINGMQ_OK);
        if (st != RINGMQ_OK) break;
        char text[32] = {0};
        memcpy(text, m.data, m.len < sizeof text - 1 ? m.len : sizeof text - 1);
        int i = -1;
        if (sscanf(text, "order-%d", &i) == 1 && i >= 0 && i < ROUND_TRIP && !seen[i]) {
            seen[i] = true;
            got++;
            /* The key travels in the RingMQ-Key header and comes back. */
            CHECK_EQ_U64(m.key, (uint64_t)i);
        } else {
            fprintf(stderr, "  unexpected message \"%s\"\n", text);
            g_check_failures++;
        }
        OK(ringmq_ack(reader, m.delivery_tag));
    }
    CHECK_EQ_U64(got, ROUND_TRIP);

    s = bridge_stats(importer);
    for (uint64_t deadline = now_ms() + 5000; s.imported < ROUND_TRIP && now_ms() < deadline;) {
        sleep_ms(20);
        s = bridge_stats(importer);
    }
    CHECK_EQ_U64(s.imported, ROUND_TRIP);
    CHECK(s.connected);

    OK(ringmq_nats_bridge_stop(importer, 1000));
    OK(ringmq_nats_bridge_stop(exporter, 1000));
    OK(ringmq_unsubscribe(reader));
    ringmq_topic_release(orders);
    ringmq_topic_release(copy);
    ringmq_broker_free(b);
}

int main(int argc, char **argv) {
    static const test_case cases[] = {
        {"bad_configuration", test_bad_configuration},
        {"null_arguments", test_null_arguments},
        {"unreachable_server", test_unreachable_server},
        {"start_errors_say_why", test_start_errors_say_why},
        {"last_error_is_per_thread", test_last_error_is_per_thread},
        {"round_trip", test_round_trip},
    };
    return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
