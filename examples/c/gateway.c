/* An IoT gateway on RingMQ.
 *
 * Sensor threads publish readings into the topic "readings". An uploader
 * pulls them and sends each to a (simulated) cloud endpoint: it acks what
 * was uploaded, nacks what failed so that it is retried after a backoff
 * (the simulated network drops some first tries, which then succeed), and
 * readings the cloud rejects every time end up, after max_attempts, in the
 * dead-letter topic "readings.dlq", which an alarm consumer reads. A push
 * subscription keeps a live per-sensor dashboard on the broker's pool.
 *
 * Run: make -C examples/c run */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringmq.h"

#define SENSORS 3
#define READINGS_PER_SENSOR 40
#define TOTAL (SENSORS * READINGS_PER_SENSOR)
#define MAX_ATTEMPTS 3

/* Exits with the last error when a call fails. */
#define MUST(call)                                                                  \
    do {                                                                            \
        ringmq_status st_ = (call);                                                 \
        if (st_ != RINGMQ_OK) {                                                     \
            fprintf(stderr, "%s failed: %s: %s\n", #call, ringmq_status_str(st_),   \
                    ringmq_last_error());                                           \
            exit(1);                                                                \
        }                                                                           \
    } while (0)

typedef struct {
    uint32_t sensor;
    uint32_t seq;
    float celsius;
} reading;

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- sensors ------------------------------------------------------------ */

typedef struct {
    ringmq_topic *topic;
    uint32_t sensor;
} sensor_arg;

static void *sensor_main(void *p) {
    sensor_arg *a = p;
    for (uint32_t seq = 0; seq < READINGS_PER_SENSOR; seq++) {
        reading r = {a->sensor, seq, 20.0f + (float)a->sensor + (float)(seq % 10) / 10.0f};
        /* Sensor 2 has a broken probe: every 16th reading is out of range. */
        if (a->sensor == 2 && seq % 16 == 5) r.celsius = -999.0f;
        /* Key = sensor: the dashboard handles one sensor's readings in order. */
        MUST(ringmq_topic_publish(a->topic, &r, sizeof r, a->sensor, /*timeout_ms*/ 1000, NULL));
        sleep_ms(1);
    }
    return NULL;
}

/* ---- the simulated cloud -------------------------------------------------- */

typedef enum { UPLOAD_OK, UPLOAD_NETWORK_ERROR, UPLOAD_REJECTED } upload_result;

static upload_result upload(const reading *r, uint32_t attempt) {
    if (r->celsius < -100.0f) return UPLOAD_REJECTED; /* the cloud refuses it */
    /* A flaky uplink: every 7th reading fails on its first try. */
    if ((r->sensor * READINGS_PER_SENSOR + r->seq) % 7 == 3 && attempt == 1)
        return UPLOAD_NETWORK_ERROR;
    return UPLOAD_OK;
}

/* ---- the dashboard (push) --------------------------------------------------- */

typedef struct {
    atomic_uint count[SENSORS];
    atomic_uint last_seq_plus1[SENSORS];
    atomic_uint out_of_order;
} dashboard;

static int32_t dashboard_handler(const ringmq_message *m, void *user_data) {
    dashboard *d = user_data;
    reading r;
    if (m->len != sizeof r) return 1; /* nack: not a reading */
    memcpy(&r, m->data, sizeof r);
    if (r.sensor >= SENSORS) return 1;
    if (atomic_load(&d->last_seq_plus1[r.sensor]) > r.seq) atomic_fetch_add(&d->out_of_order, 1);
    atomic_store(&d->last_seq_plus1[r.sensor], r.seq + 1);
    atomic_fetch_add(&d->count[r.sensor], 1);
    return 0;
}

int main(void) {
    ringmq_broker_options bo;
    ringmq_broker_options_default(&bo);
    bo.workers_max = 2;
    ringmq_broker *mq;
    MUST(ringmq_broker_new(&bo, &mq));

    ringmq_topic_options to;
    ringmq_topic_options_default(&to);
    to.capacity = 64;
    to.slot_size = sizeof(reading);
    to.max_attempts = MAX_ATTEMPTS;
    to.backoff_base_ms = 10;
    to.backoff_max_ms = 40;
    ringmq_topic *readings;
    MUST(ringmq_topic_create(mq, "readings", &to, &readings));

    /* Subscribe to the dead-letter topic before anything can die. */
    ringmq_topic *dlq;
    MUST(ringmq_topic_open(mq, "readings.dlq", &dlq));
    ringmq_sub *alarms;
    MUST(ringmq_topic_subscribe_pull(dlq, "alarms", NULL, &alarms));

    ringmq_sub *uploader;
    MUST(ringmq_topic_subscribe_pull(readings, "uploader", NULL, &uploader));

    static dashboard dash;
    ringmq_sub_options so;
    ringmq_sub_options_default(&so);
    so.concurrency = 2;
    so.ordered_by_key = true;
    ringmq_sub *live;
    MUST(ringmq_topic_subscribe(readings, "dashboard", dashboard_handler, &dash, &so, &live));

    pthread_t threads[SENSORS];
    sensor_arg args[SENSORS];
    for (uint32_t i = 0; i < SENSORS; i++) {
        args[i] = (sensor_arg){readings, i};
        pthread_create(&threads[i], NULL, sensor_main, &args[i]);
    }
    printf("gateway: %d sensors publishing %d readings each into \"readings\"\n", SENSORS,
           READINGS_PER_SENSOR);

    /* The uploader: every reading ends uploaded or dead-lettered. */
    unsigned uploaded = 0, network_errors = 0, rejected = 0, retried_ok = 0, dead = 0;
    while (uploaded + dead < TOTAL) {
        ringmq_message m;
        ringmq_status st = ringmq_sub_poll(uploader, 100, &m);
        if (st == RINGMQ_OK) {
            reading r;
            memcpy(&r, m.data, sizeof r); /* data is valid until settled */
            switch (upload(&r, m.attempt)) {
            case UPLOAD_OK:
                MUST(ringmq_sub_ack(uploader, m.delivery_tag));
                uploaded++;
                if (m.attempt > 1) {
                    retried_ok++;
                    printf("  uploaded sensor %u #%u on attempt %u after a network error\n",
                           r.sensor, r.seq, m.attempt);
                }
                break;
            case UPLOAD_NETWORK_ERROR:
                network_errors++;
                MUST(ringmq_sub_nack(uploader, m.delivery_tag, 0)); /* retry after backoff */
                break;
            case UPLOAD_REJECTED:
                rejected++;
                printf("  cloud rejected sensor %u #%u (%.1f C), attempt %u of %d\n", r.sensor,
                       r.seq, (double)r.celsius, m.attempt, MAX_ATTEMPTS);
                MUST(ringmq_sub_nack(uploader, m.delivery_tag, 0));
                break;
            }
        } else if (st != RINGMQ_EMPTY) {
            MUST(st);
        }
        /* Dead letters: raise an alarm for each. */
        while (ringmq_sub_poll(alarms, 0, &m) == RINGMQ_OK) {
            reading r;
            memcpy(&r, m.data, sizeof r);
            printf("  ALARM: sensor %u #%u (%.1f C) dead-lettered after %u attempts (id %llu)\n",
                   r.sensor, r.seq, (double)r.celsius, m.attempt, (unsigned long long)m.id);
            MUST(ringmq_sub_ack(alarms, m.delivery_tag));
            dead++;
        }
    }
    for (int i = 0; i < SENSORS; i++) pthread_join(threads[i], NULL);

    /* Let the dashboard catch up, then report. */
    for (int waited = 0; waited < 5000; waited += 10) {
        unsigned n = 0;
        for (int i = 0; i < SENSORS; i++) n += atomic_load(&dash.count[i]);
        if (n == TOTAL) break;
        sleep_ms(10);
    }
    ringmq_sub_stats us;
    MUST(ringmq_sub_get_stats(uploader, &us));
    ringmq_topic_stats ts;
    MUST(ringmq_topic_get_stats(readings, &ts));

    printf("\nsummary\n");
    printf("  published %llu readings; uploaded %u (%u after a retry), dead-lettered %u\n",
           (unsigned long long)ts.published, uploaded, retried_ok, dead);
    printf("  uploader: delivered %llu, acked %llu, nacked %llu, retried %llu, dead %llu\n",
           (unsigned long long)us.delivered, (unsigned long long)us.acked,
           (unsigned long long)us.nacked, (unsigned long long)us.retried,
           (unsigned long long)us.dead_lettered);
    printf("  publish-to-upload latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
           us.latency_p50_ns / 1e6, us.latency_p99_ns / 1e6, us.latency_max_ns / 1e6);
    printf("  dashboard (push, ordered by sensor):");
    for (int i = 0; i < SENSORS; i++) printf(" sensor %d: %u", i, atomic_load(&dash.count[i]));
    printf("; out of order: %u\n", atomic_load(&dash.out_of_order));

    int ok = uploaded + dead == TOTAL && ts.published == TOTAL && us.acked == uploaded &&
             us.dead_lettered == dead && atomic_load(&dash.out_of_order) == 0 &&
             network_errors == retried_ok && rejected == dead * MAX_ATTEMPTS;
    for (int i = 0; i < SENSORS; i++) ok = ok && atomic_load(&dash.count[i]) == READINGS_PER_SENSOR;

    MUST(ringmq_sub_unsubscribe(live));
    MUST(ringmq_sub_unsubscribe(uploader));
    MUST(ringmq_sub_unsubscribe(alarms));
    ringmq_topic_release(dlq);
    ringmq_topic_release(readings);
    MUST(ringmq_broker_close(mq, 1000));
    ringmq_broker_free(mq);
    printf("%s\n", ok ? "every reading accounted for" : "ACCOUNTING MISMATCH");
    return ok ? 0 : 1;
}
