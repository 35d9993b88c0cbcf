/* Soak test of the C API: steady publish / poll / ack / nack, push handlers
 * that fail now and then, a dead-letter reader, and subscriptions that come
 * and go, for a given time. Every few seconds it samples the process's
 * resident memory (VmRSS) and thread count; it fails if either keeps growing
 * (every sample of the last third above every sample of the first third, by
 * more than a tolerance) or if, after the producers stop and everything is
 * drained, the accounting is not exact: each published id acked or
 * dead-lettered exactly once per tracked group (compared as count, sum and
 * sum of squares of the ids, so it needs no memory per message).
 *
 * Usage: soak [SECONDS [SAMPLE_EVERY_MS]]   (default 180 s, a sample every 3 s)
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ringmq.h"
#include "timing.h"

#define MAX_SAMPLES 4096

static int count_threads(void) {
    DIR *d = opendir("/proc/self/task");
    if (d == NULL) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* VmRSS in kB. */
static long rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

static void die(const char *what) {
    fprintf(stderr, "SOAK FAILURE: %s (last error: %s)\n", what, ringmq_last_error());
    exit(1);
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "SOAK FAILURE: hang: the soak did not finish in time\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(3);
}

/* count, sum and sum of squares of a set of ids */
typedef struct {
    atomic_ullong n, sum, sq;
} idsum;

static void idsum_add(idsum *s, uint64_t id) {
    atomic_fetch_add(&s->n, 1);
    atomic_fetch_add(&s->sum, id);
    atomic_fetch_add(&s->sq, id * id);
}

static bool idsum_eq2(idsum *a, idsum *b, idsum *want) {
    return atomic_load(&a->n) + atomic_load(&b->n) == atomic_load(&want->n) &&
           atomic_load(&a->sum) + atomic_load(&b->sum) == atomic_load(&want->sum) &&
           atomic_load(&a->sq) + atomic_load(&b->sq) == atomic_load(&want->sq);
}

static struct {
    ringmq_broker *b;
    ringmq_topic *t;
    ringmq_sub *pull, *push, *dlq;
    idsum published, pull_acked, push_acked, pull_dead, push_dead;
    atomic_int stop_producers, stop_all;
    atomic_ullong churned, errors;
} g;

static uint64_t xorshift(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *producer(void *arg) {
    uint64_t r = (uintptr_t)arg * 7919 + 1;
    uint8_t buf[16][64];
    ringmq_buf items[16];
    while (!atomic_load(&g.stop_producers)) {
        size_t n = 1 + xorshift(&r) % 16;
        for (size_t i = 0; i < n; i++) {
            items[i].len = xorshift(&r) % 65;
            memset(buf[i], (int)i, items[i].len);
            items[i].data = buf[i];
        }
        uint64_t first = 0;
        ringmq_status st = n == 1 ? ringmq_topic_publish(g.t, buf[0], items[0].len, r % 8, 50, &first)
                                  : ringmq_topic_publish_batch(g.t, items, n, r % 8, 50, &first);
        if (st == RINGMQ_OK)
            for (size_t i = 0; i < n; i++) idsum_add(&g.published, first + i);
        else if (st != RINGMQ_TIMEOUT)
            die("publish failed");
        sleep_ms(1);
    }
    return NULL;
}

static void *consumer(void *arg) {
    uint64_t r = (uintptr_t)arg * 104729 + 3;
    ringmq_message ms[32];
    uint64_t tags[32];
    while (!atomic_load(&g.stop_all)) {
        size_t n = 0;
        ringmq_status st = ringmq_sub_poll_batch(g.pull, 32, 10, ms, &n);
        if (st == RINGMQ_EMPTY) continue;
        if (st != RINGMQ_OK) die("poll_batch failed");
        size_t nt = 0;
        for (size_t i = 0; i < n; i++) {
            if (xorshift(&r) % 10 == 0) {
                if (ringmq_sub_nack(g.pull, ms[i].delivery_tag, (uint32_t)(r % 5)) != RINGMQ_OK)
                    die("nack failed");
            } else {
                tags[nt++] = ms[i].delivery_tag;
                idsum_add(&g.pull_acked, ms[i].id);
            }
        }
        if (nt > 0 && ringmq_sub_ack_batch(g.pull, tags, nt) != RINGMQ_OK) die("ack_batch failed");
    }
    return NULL;
}

static void *dlq_reader(void *arg) {
    (void)arg;
    ringmq_message ms[32];
    while (!atomic_load(&g.stop_all)) {
        size_t n = 0;
        ringmq_status st = ringmq_sub_poll_batch(g.dlq, 32, 10, ms, &n);
        if (st == RINGMQ_EMPTY) continue;
        if (st != RINGMQ_OK) die("dlq poll_batch failed");
        for (size_t i = 0; i < n; i++) {
            const char *grp = ms[i].dead_letter_group;
            if (grp && strcmp(grp, "pull") == 0) idsum_add(&g.pull_dead, ms[i].id);
            else if (grp && strcmp(grp, "push") == 0) idsum_add(&g.push_dead, ms[i].id);
            if (ringmq_sub_ack(g.dlq, ms[i].delivery_tag) != RINGMQ_OK) die("dlq ack failed");
        }
    }
    return NULL;
}

static int32_t on_push(const ringmq_message *m, void *user_data) {
    atomic_ullong *calls = user_data;
    unsigned long long c = atomic_fetch_add(calls, 1);
    if ((c * 2654435761u) % 100 < 5) return 1; /* about 5% fail */
    idsum_add(&g.push_acked, m->id);
    return 0;
}

static int32_t on_churn(const ringmq_message *m, void *user_data) {
    (void)m;
    atomic_fetch_add((atomic_ullong *)user_data, 1);
    return 0;
}

/* Subscriptions (lossy, so they never hold the producers) and topic handles
 * that come and go. */
static void *churner(void *arg) {
    (void)arg;
    uint64_t r = 12345;
    atomic_ullong calls = 0;
    while (!atomic_load(&g.stop_all)) {
        ringmq_sub_options o;
        ringmq_sub_options_default(&o);
        o.lossy = true;
        ringmq_sub *s = NULL;
        ringmq_topic *t = NULL;
        if (ringmq_topic_open(g.b, "soak", &t) != RINGMQ_OK) die("topic_open failed");
        bool push = xorshift(&r) % 2;
        o.concurrency = 1 + (uint32_t)(r % 2);
        o.ordered_by_key = r % 3 == 0;
        ringmq_status st = push ? ringmq_topic_subscribe(t, "churn", on_churn, &calls, &o, &s)
                                : ringmq_topic_subscribe_pull(t, "churn", &o, &s);
        ringmq_topic_release(t);
        if (st != RINGMQ_OK) die("churn subscribe failed");
        if (!push) {
            ringmq_message m;
            for (int i = 0; i < 5; i++)
                if (ringmq_sub_poll(s, 2, &m) == RINGMQ_OK && i % 2 == 0)
                    ringmq_sub_ack(s, m.delivery_tag); /* the others are abandoned */
        } else {
            sleep_ms(5);
        }
        if (ringmq_sub_unsubscribe(s) != RINGMQ_OK) die("churn unsubscribe failed");
        atomic_fetch_add(&g.churned, 1);
        size_t needed = 0;
        ringmq_broker_metrics_text(g.b, NULL, 0, &needed);
        sleep_ms(5);
    }
    return NULL;
}

static void check_sum(const char *what, ringmq_sub *s) {
    ringmq_sub_stats st;
    if (ringmq_sub_get_stats(s, &st) != RINGMQ_OK) die("sub stats");
    uint64_t sum = st.acked + st.nacked + st.expired + st.termed + st.in_flight;
    if (st.delivered != sum) {
        fprintf(stderr, "SOAK FAILURE: %s: delivered %" PRIu64 " != %" PRIu64 "\n", what,
                st.delivered, sum);
        exit(1);
    }
}

int main(int argc, char **argv) {
    long seconds = argc > 1 ? atol(argv[1]) : 180;
    long every_ms = argc > 2 ? atol(argv[2]) : 3000;
    if (seconds <= 0 || every_ms <= 0) {
        fprintf(stderr, "usage: %s [SECONDS [SAMPLE_EVERY_MS]]\n", argv[0]);
        return 2;
    }
    signal(SIGALRM, on_alarm);
    alarm((unsigned)(seconds + 120));
    int threads_before = count_threads();

    ringmq_broker_options bo;
    ringmq_broker_options_default(&bo);
    bo.workers_max = 3;
    bo.idle_timeout_ms = 200;
    if (ringmq_broker_new(&bo, &g.b) != RINGMQ_OK) die("broker_new");
    ringmq_topic_options to;
    ringmq_topic_options_default(&to);
    to.capacity = 256;
    to.slot_size = 64;
    to.max_attempts = 3;
    to.backoff_base_ms = 1;
    to.backoff_max_ms = 5;
    to.ack_timeout_ms = 5000;
    if (ringmq_topic_create(g.b, "soak", &to, &g.t) != RINGMQ_OK) die("topic_create");
    ringmq_topic *dlq = NULL;
    if (ringmq_topic_open(g.b, "soak.dlq", &dlq) != RINGMQ_OK) die("open dlq");
    if (ringmq_topic_subscribe_pull(dlq, "dead", NULL, &g.dlq) != RINGMQ_OK) die("subscribe dlq");
    ringmq_topic_release(dlq);
    if (ringmq_topic_subscribe_pull(g.t, "pull", NULL, &g.pull) != RINGMQ_OK) die("subscribe pull");
    static atomic_ullong push_calls;
    ringmq_sub_options o;
    ringmq_sub_options_default(&o);
    o.concurrency = 2;
    if (ringmq_topic_subscribe(g.t, "push", on_push, &push_calls, &o, &g.push) != RINGMQ_OK)
        die("subscribe push");

    pthread_t th[6];
    pthread_create(&th[0], NULL, producer, (void *)1);
    pthread_create(&th[1], NULL, producer, (void *)2);
    pthread_create(&th[2], NULL, consumer, (void *)1);
    pthread_create(&th[3], NULL, consumer, (void *)2);
    pthread_create(&th[4], NULL, dlq_reader, NULL);
    pthread_create(&th[5], NULL, churner, NULL);

    static long rss[MAX_SAMPLES];
    static int thr[MAX_SAMPLES];
    int n = 0;
    uint64_t start = now_ms(), end = start + (uint64_t)seconds * 1000;
    sleep_ms(every_ms < 1000 ? every_ms : 1000); /* warm-up, not sampled */
    while (now_ms() < end && n < MAX_SAMPLES) {
        sleep_ms(every_ms);
        rss[n] = rss_kb();
        thr[n] = count_threads();
        printf("soak %5.1fs: rss %ld kB, %d threads, %llu published, %llu churned\n",
               (double)(now_ms() - start) / 1000.0, rss[n], thr[n],
               (unsigned long long)atomic_load(&g.published.n),
               (unsigned long long)atomic_load(&g.churned));
        fflush(stdout);
        n++;
    }

    /* stop producing, drain, check exact accounting */
    atomic_store(&g.stop_producers, 1);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    uint64_t deadline = now_ms() + 30000;
    while (!(idsum_eq2(&g.pull_acked, &g.pull_dead, &g.published) &&
             idsum_eq2(&g.push_acked, &g.push_dead, &g.published))) {
        if (now_ms() > deadline) {
            fprintf(stderr,
                    "SOAK FAILURE: not drained in 30 s: published %llu, pull acked %llu + dead "
                    "%llu, push acked %llu + dead %llu\n",
                    (unsigned long long)g.published.n, (unsigned long long)g.pull_acked.n,
                    (unsigned long long)g.pull_dead.n, (unsigned long long)g.push_acked.n,
                    (unsigned long long)g.push_dead.n);
            return 1;
        }
        sleep_ms(10);
    }
    sleep_ms(100); /* late duplicates would show now */
    atomic_store(&g.stop_all, 1);
    for (int i = 2; i < 6; i++) pthread_join(th[i], NULL);
    if (!idsum_eq2(&g.pull_acked, &g.pull_dead, &g.published) ||
        !idsum_eq2(&g.push_acked, &g.push_dead, &g.published))
        die("accounting: a message was settled twice");
    check_sum("pull", g.pull);
    check_sum("push", g.push);
    check_sum("dlq", g.dlq);

    if (ringmq_broker_close(g.b, 1000) != RINGMQ_OK) die("close");
    ringmq_sub_unsubscribe(g.pull);
    ringmq_sub_unsubscribe(g.push);
    ringmq_sub_unsubscribe(g.dlq);
    ringmq_topic_release(g.t);
    ringmq_broker_free(g.b);
    int threads_after = count_threads();
    if (threads_after != threads_before) {
        fprintf(stderr, "SOAK FAILURE: %d threads before, %d after ringmq_broker_free\n",
                threads_before, threads_after);
        return 1;
    }

    /* growth: every sample of the last third above every one of the first */
    if (n >= 3) {
        int third = n / 3;
        long rss_first_max = 0, rss_last_min = -1;
        int thr_first_max = 0, thr_last_min = -1;
        for (int i = 0; i < third; i++) {
            if (rss[i] > rss_first_max) rss_first_max = rss[i];
            if (thr[i] > thr_first_max) thr_first_max = thr[i];
        }
        for (int i = n - third; i < n; i++) {
            if (rss_last_min < 0 || rss[i] < rss_last_min) rss_last_min = rss[i];
            if (thr_last_min < 0 || thr[i] < thr_last_min) thr_last_min = thr[i];
        }
        long tol = rss_first_max / 10 > 4096 ? rss_first_max / 10 : 4096;
        if (rss_last_min > rss_first_max + tol) {
            fprintf(stderr, "SOAK FAILURE: RSS keeps growing: first third at most %ld kB, "
                            "last third at least %ld kB\n", rss_first_max, rss_last_min);
            return 1;
        }
        if (thr_last_min > thr_first_max + 1) {
            fprintf(stderr, "SOAK FAILURE: threads keep growing: first third at most %d, last "
                            "third at least %d\n", thr_first_max, thr_last_min);
            return 1;
        }
    }
    printf("soak ok: %ld s, %d samples, %llu published, %llu push calls, %llu subscriptions "
           "churned; pull dead-lettered %llu, push %llu\n",
           seconds, n, (unsigned long long)g.published.n, (unsigned long long)push_calls,
           (unsigned long long)g.churned, (unsigned long long)g.pull_dead.n,
           (unsigned long long)g.push_dead.n);
    return 0;
}
