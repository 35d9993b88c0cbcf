/* Throughput through the C API, against the queue a C program would
 * otherwise write: a bounded ring of 1024 slots guarded by a pthread mutex
 * and two condition variables. One producer thread, one consumer thread,
 * 64-byte payloads copied in and out; every consumer checks it got every
 * message once, in order. RingMQ runs twice: single publishes with one
 * ringmq_sub_ack per message, and 64-message batches with one ringmq_sub_ack_batch
 * per poll. The cases run interleaved (round r of every case
 * before round r+1 of any) and the medians are compared.
 *
 *   make -C examples/c bench                 (N=2000000 messages, 5 rounds)
 *   ./throughput [messages] [rounds]
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringmq.h"

#define PAYLOAD 64
#define CAPACITY 1024
#define BATCH 64

static uint64_t n_messages = 2000000;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, ringmq_status st) {
    fprintf(stderr, "%s: %s: %s\n", what, ringmq_status_str(st), ringmq_last_error());
    exit(1);
}

/* ---- peer: mutex + condvars ------------------------------------------------ */

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t not_full, not_empty;
    uint64_t head, tail; /* head: next to read; tail: next to write */
    unsigned char slots[CAPACITY][PAYLOAD];
} locked_queue;

static void lq_push(locked_queue *q, const unsigned char *msg) {
    pthread_mutex_lock(&q->lock);
    while (q->tail - q->head == CAPACITY) pthread_cond_wait(&q->not_full, &q->lock);
    memcpy(q->slots[q->tail % CAPACITY], msg, PAYLOAD);
    q->tail++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
}

static void lq_pop(locked_queue *q, unsigned char *msg) {
    pthread_mutex_lock(&q->lock);
    while (q->tail == q->head) pthread_cond_wait(&q->not_empty, &q->lock);
    memcpy(msg, q->slots[q->head % CAPACITY], PAYLOAD);
    q->head++;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->lock);
}

static void *lq_consumer(void *p) {
    locked_queue *q = p;
    unsigned char msg[PAYLOAD];
    for (uint64_t i = 0; i < n_messages; i++) {
        lq_pop(q, msg);
        uint64_t v;
        memcpy(&v, msg, sizeof v);
        if (v != i) {
            fprintf(stderr, "locked queue: got %llu, want %llu\n", (unsigned long long)v,
                    (unsigned long long)i);
            exit(1);
        }
    }
    return NULL;
}

static double run_locked_queue(void) {
    locked_queue *q = calloc(1, sizeof *q);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->not_full, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_t consumer;
    double t0 = now_s();
    pthread_create(&consumer, NULL, lq_consumer, q);
    unsigned char msg[PAYLOAD] = {0};
    for (uint64_t i = 0; i < n_messages; i++) {
        memcpy(msg, &i, sizeof i);
        lq_push(q, msg);
    }
    pthread_join(consumer, NULL);
    double secs = now_s() - t0;
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->not_full);
    pthread_cond_destroy(&q->not_empty);
    free(q);
    return (double)n_messages / secs;
}

/* ---- RingMQ through the C API ------------------------------------------------ */

typedef struct {
    ringmq_sub *s;
    int ack_batch; /* one ringmq_sub_ack_batch per poll instead of ringmq_sub_ack each */
} rmq_consumer_arg;

static void *rmq_consumer(void *p) {
    rmq_consumer_arg *a = p;
    ringmq_sub *s = a->s;
    static __thread ringmq_message batch[256];
    static __thread uint64_t tags[256];
    uint64_t next = 0;
    unsigned char copy[PAYLOAD];
    while (next < n_messages) {
        size_t n = 0;
        ringmq_status st = ringmq_sub_poll_batch(s, 256, 1000, batch, &n);
        if (st != RINGMQ_OK) die("ringmq_sub_poll_batch", st);
        for (size_t i = 0; i < n; i++) {
            memcpy(copy, batch[i].data, PAYLOAD);
            uint64_t v;
            memcpy(&v, copy, sizeof v);
            if (v != next || batch[i].len != PAYLOAD) {
                fprintf(stderr, "ringmq: got %llu, want %llu\n", (unsigned long long)v,
                        (unsigned long long)next);
                exit(1);
            }
            next++;
            if (a->ack_batch) {
                tags[i] = batch[i].delivery_tag;
            } else if ((st = ringmq_sub_ack(s, batch[i].delivery_tag)) != RINGMQ_OK) {
                die("ringmq_sub_ack", st);
            }
        }
        if (a->ack_batch && (st = ringmq_sub_ack_batch(s, tags, n)) != RINGMQ_OK) die("ringmq_sub_ack_batch", st);
    }
    return NULL;
}

static double run_ringmq(int batched) {
    ringmq_broker *b;
    ringmq_topic *t;
    ringmq_sub *s;
    ringmq_status st;
    if ((st = ringmq_broker_new(NULL, &b)) != RINGMQ_OK) die("ringmq_broker_new", st);
    ringmq_topic_options o;
    ringmq_topic_options_default(&o);
    o.capacity = CAPACITY;
    o.slot_size = PAYLOAD;
    if ((st = ringmq_topic_create(b, "bench", &o, &t)) != RINGMQ_OK) die("ringmq_topic_create", st);
    if ((st = ringmq_topic_subscribe_pull(t, "c", NULL, &s)) != RINGMQ_OK) die("ringmq_topic_subscribe_pull", st);
    pthread_t consumer;
    rmq_consumer_arg arg = {s, batched};
    double t0 = now_s();
    pthread_create(&consumer, NULL, rmq_consumer, &arg);
    static unsigned char msgs[BATCH][PAYLOAD];
    ringmq_buf bufs[BATCH];
    for (int i = 0; i < BATCH; i++) bufs[i] = (ringmq_buf){msgs[i], PAYLOAD};
    for (uint64_t i = 0; i < n_messages;) {
        if (batched && n_messages - i >= BATCH) {
            for (uint64_t k = 0; k < BATCH; k++) {
                uint64_t v = i + k;
                memcpy(msgs[k], &v, sizeof v);
            }
            st = ringmq_topic_publish_batch(t, bufs, BATCH, 0, -1, NULL);
            if (st != RINGMQ_OK) die("ringmq_topic_publish_batch", st);
            i += BATCH;
        } else {
            memcpy(msgs[0], &i, sizeof i);
            st = ringmq_topic_publish(t, msgs[0], PAYLOAD, 0, -1, NULL);
            if (st != RINGMQ_OK) die("ringmq_topic_publish", st);
            i++;
        }
    }
    pthread_join(consumer, NULL);
    double secs = now_s() - t0;
    ringmq_sub_unsubscribe(s);
    ringmq_topic_release(t);
    ringmq_broker_free(b);
    return (double)n_messages / secs;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv) {
    if (argc > 1) n_messages = strtoull(argv[1], NULL, 10);
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (n_messages == 0 || rounds < 1 || rounds > 99) {
        fprintf(stderr, "usage: %s [messages > 0] [rounds 1..99]\n", argv[0]);
        return 2;
    }
    double lq[99], single[99], batch[99];
    for (int r = 0; r < rounds; r++) {
        lq[r] = run_locked_queue();
        single[r] = run_ringmq(0);
        batch[r] = run_ringmq(1);
        fprintf(stderr, "round %d: mutex+condvar %.2f M/s, ringmq %.2f M/s, ringmq batch %.2f M/s\n",
                r + 1, lq[r] / 1e6, single[r] / 1e6, batch[r] / 1e6);
    }
    double m_lq = median(lq, rounds), m_single = median(single, rounds),
           m_batch = median(batch, rounds);
    printf("1 producer -> 1 consumer, %d-byte payloads, %llu messages, median of %d rounds\n",
           PAYLOAD, (unsigned long long)n_messages, rounds);
    const char *row = "  %-48s %8.2f M msgs/s  %.2fx\n";
    printf(row, "mutex+condvar ring (1024)", m_lq / 1e6, 1.0);
    printf(row, "ringmq_topic_publish; poll_batch, ringmq_sub_ack each", m_single / 1e6, m_single / m_lq);
    printf(row, "ringmq_topic_publish_batch(64); poll_batch, ack_batch", m_batch / 1e6, m_batch / m_lq);
    return 0;
}
