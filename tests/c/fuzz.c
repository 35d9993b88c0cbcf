/* Randomized, multi-threaded fuzzer of the C API.
 *
 * One run takes a seed (argv[1], or RINGMQ_FUZZ_SEED, else the clock), prints
 * it first, and goes through three phases on one broker:
 *
 *  1. chaos: 2-4 threads call every function of the API in random order with
 *     random, odd and bad arguments (sizes 0, slot_size, slot_size + 1; NULL
 *     pointers; stale and random delivery tags; tiny metrics buffers), while
 *     push handlers ack or fail at random and subscriptions and topic handles
 *     come and go; settles include requeues, and wakes (each ending one
 *     waiting poll with RINGMQ_INTERRUPTED) and the readiness descriptor
 *     come in between polls;
 *  2. drain: the threads stop and settle what they hold; the main thread then
 *     drains the tracked subscriptions and the dead-letter topic and checks
 *     that every message published to the tracked topic was acked or
 *     dead-lettered exactly once by each tracked group, and that every
 *     subscription's counters add up (delivered = acked + nacked + expired +
 *     termed + in_flight);
 *  3. close: the threads start again and one of them closes the broker while
 *     the others keep calling; every call that starts after the close returned
 *     must answer RINGMQ_CLOSED (or a plain argument error), and no handler
 *     may run afterwards.
 *
 * At the end the broker is freed and the process must have exactly the
 * threads it had before ringmq_broker_new; LeakSanitizer (under ASan) checks
 * that nothing leaked. Any failed check prints the seed and aborts; alarm()
 * turns a hang into a failure that prints the seed as well.
 *
 * Usage: fuzz [SEED] [--count N]   (N consecutive seeds from SEED in one process)
 * Environment:
 *   RINGMQ_FUZZ_SEED=S          seed when argv has none
 *   RINGMQ_FUZZ_WATCHDOG_S=N    seconds one seed may take (default 90)
 *   RINGMQ_FUZZ_VERBOSE=1       print each seed's configuration
 * A switch that avoids one interleaving (0/unset by default):
 *   RINGMQ_FUZZ_SKIP_FORK                 no fork() mid-run: for sanitizer
 *       builds, whose allocator is not fork-safe in a multithreaded process
 *       (a child's first malloc can wait for good on a lock another thread
 *       held); the engine's fork handling is fuzzed in the plain build
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ringmq.h"
#include "timing.h"

/* ---- small tools ------------------------------------------------------ */

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_THREADS 4
#define NKEYS 8               /* keys of the tracked topic: 0..7 */
#define ID_CAP (1u << 16)     /* ids of the tracked topic we can follow */
#define HELD_MAX 16
#define STALE_MAX 16
#define CHURN_SLOTS 6
#define TOPIC_SLOTS 4
#define MAX_BATCH 12

typedef struct {
    uint64_t s;
} rng_t;

static uint64_t rnd(rng_t *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static uint32_t below(rng_t *r, uint32_t n) { return n ? (uint32_t)(rnd(r) % n) : 0; }
/* True with probability p/1000. */
static bool chance(rng_t *r, uint32_t permille) { return below(r, 1000) < permille; }

/* Until when a payload polled now with ack timeout `ack_ms` is surely
 * valid: the engine's deadlines run on a coarse clock that may lag. */
static uint64_t valid_until(uint32_t ack_ms) {
    return now_ms() + (ack_ms > 12 ? ack_ms - 12 : 0);
}

static bool env_flag(const char *name) {
    const char *v = getenv(name);
    return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

/* Threads of this process, from /proc/self/task. */
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

/* ---- global state ------------------------------------------------------ */

enum { PH_SETUP, PH_CHAOS, PH_DRAIN, PH_CLOSE, PH_TEARDOWN, PH_FORK_CHILD };
static const char *const phase_names[] = {"setup", "chaos", "drain", "close", "teardown",
                                          "fork child"};

static struct {
    bool fork;
} skip;

static unsigned long long g_seed;
static atomic_int g_phase;
static unsigned g_watchdog_s = 90;
static bool g_verbose;

static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...) {
    pthread_mutex_lock(&fail_lock); /* the first failure reports; others wait here */
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr,
            "\nFUZZ FAILURE seed=%llu phase=%s: %s\n  last error on this thread: %s\n"
            "  replay: RINGMQ_FUZZ_SEED=%llu (scripts/fuzz-c.sh --seed %llu)\n",
            g_seed, phase_names[atomic_load(&g_phase)], msg, ringmq_last_error(), g_seed,
            g_seed);
    fflush(stderr);
    abort();
}

static char hang_msg[256];
static size_t hang_len;
static const char *volatile child_step = ""; /* where a forked child is */

static void on_alarm(int sig) {
    (void)sig;
    /* async-signal-safe: a prepared text, the phase name, _exit */
    const char *ph = phase_names[atomic_load(&g_phase)];
    ssize_t w = write(2, hang_msg, hang_len);
    w = write(2, ph, strlen(ph));
    const char *cs = child_step;
    w = write(2, cs, strlen(cs));
    w = write(2, "\n", 1);
    (void)w;
    _exit(3);
}

static void arm_watchdog(unsigned seconds) {
    hang_len = (size_t)snprintf(hang_msg, sizeof hang_msg,
                                "\nFUZZ FAILURE seed=%llu: hang: the run did not finish in %u s "
                                "(replay: RINGMQ_FUZZ_SEED=%llu); phase ",
                                g_seed, seconds, g_seed);
    signal(SIGALRM, on_alarm);
    alarm(seconds);
}

/* Status names for messages. */
static const char *sn(ringmq_status s) { return ringmq_status_str(s); }

/* ---- payloads ---------------------------------------------------------- */

static uint8_t pattern_byte(uint64_t key, size_t i) {
    return (uint8_t)(key * 131u + i * 7u + 1u);
}

static void fill_payload(uint8_t *buf, size_t len, uint64_t key) {
    for (size_t i = 0; i < len; i++) buf[i] = pattern_byte(key, i);
}

static bool payload_ok(const uint8_t *data, size_t len, uint64_t key) {
    if (len > 0 && data == NULL) return false;
    for (size_t i = 0; i < len; i++)
        if (data[i] != pattern_byte(key, i)) return false;
    return true;
}

/* ---- the world of one run ----------------------------------------------- */

typedef struct push_ctx {
    uint32_t magic;
    int tracked;           /* records its acks into g.acked_push */
    int ordered;
    int in_id_order;       /* ordered: first attempts of a key come in id order */
    uint32_t concurrency;
    int self_unsub;        /* may unsubscribe itself from inside the handler */
    size_t slot_size;
    uint32_t max_attempts; /* 0: unknown (dead-letter topic) */
    unsigned fail_permille;
    atomic_int dead;          /* ringmq_sub_unsubscribe returned (called from outside) */
    atomic_int self_unsubbed; /* the handler's own ringmq_sub_unsubscribe returned */
    atomic_int running;
    atomic_int key_busy[NKEYS];
    _Atomic uint64_t next_first_id[NKEYS]; /* ordered: first attempts come in id order */
    _Atomic(ringmq_sub *) sub;             /* self_unsub: the handle, taken once */
    atomic_ullong calls;
    struct push_ctx *next;
} push_ctx;

#define CTX_MAGIC 0x5eedf00du

typedef struct {
    ringmq_sub *sub;
    uint64_t tag, id, key;
    const uint8_t *data;
    uint32_t len, attempt;
    size_t slot_size;
    /* A polled payload is valid until the delivery is settled or its ack
     * timeout passes: checked only before this (monotonic ms). */
    uint64_t valid_until_ms;
} held_t;

/* Checks a held payload while it must be valid; true if it failed. Past its
 * validity it is not read at all: the memory may have been reused (a retry
 * store entry grows for a larger message, its headers included). */
static bool payload_broken(const held_t *h) {
    if (now_ms() >= h->valid_until_ms) return false;
    return !payload_ok(h->data, h->len, h->key) && now_ms() < h->valid_until_ms;
}


typedef struct {
    pthread_mutex_t lock;
    ringmq_sub *sub;   /* NULL: empty */
    push_ctx *ctx;     /* push: its context */
    int ordered;
    size_t slot_size;
    uint32_t max_attempts;
    bool lossy_topic;
    uint32_t ack_timeout_ms;
    held_t held[HELD_MAX];
    int nheld;
    int topic_ix;
} churn_slot;

typedef struct {
    pthread_mutex_t lock;
    ringmq_topic *t;
    size_t slot_size, capacity;
    ringmq_overflow overflow;
    bool is_dlq; /* a dead-letter topic: ids come in dead-letter order */
} topic_slot;

typedef struct {
    ringmq_topic *t;
    size_t slot_size, capacity;
    ringmq_overflow overflow;
    uint32_t max_attempts;
    uint32_t ack_timeout_ms;
    const char *name;
} topic_info;

static struct {
    ringmq_broker *b;
    uint32_t workers_max;
    int nthreads;
    topic_info t0, t1; /* t0: tracked (block or reject); t1: anything */
    bool expiry;       /* t0's ack timeout is short: deliveries may expire */
    int hold_max;      /* deliveries of audit one thread holds at most */
    ringmq_sub *audit, *pushaudit, *dlqreader;
    push_ctx *pushaudit_ctx;
    churn_slot churn[CHURN_SLOTS];
    topic_slot tslots[TOPIC_SLOTS];

    /* tracked topic accounting, indexed by id */
    atomic_uchar published_known[ID_CAP];
    atomic_uchar acked_pull[ID_CAP], acked_push[ID_CAP];
    atomic_uchar dlq_pull[ID_CAP], dlq_push[ID_CAP];
    /* A handler call for the id ended past its ack deadline (see
     * mark_overrun): the message may have been handled again. */
    atomic_uchar overran_push[ID_CAP];
    atomic_ullong published_unknown; /* published with a NULL out_id */
    atomic_ullong published_total;
    atomic_ullong t0_refused;        /* publishes to t0 that met a full ring */
    atomic_ullong chaos_ops;

    atomic_int stop;          /* the threads of this phase stop */
    atomic_int close_started; /* someone called ringmq_broker_close */
    atomic_int closed;        /* a ringmq_broker_close returned */
    atomic_int closed_outside; /* one called from outside the handlers returned */
    atomic_int seen_closed;   /* threads that began an operation after that */
    atomic_int handler_closed;
    atomic_int forked;

    pthread_mutex_t ctx_lock;
    push_ctx *ctxs;
} g;

static void check_message(const ringmq_message *m, size_t slot_size, uint32_t max_attempts,
                          const char *where) {
    if (m->len > slot_size)
        fail("%s: message %" PRIu64 " has len %u over slot_size %zu", where, m->id, m->len,
             slot_size);
    if (!payload_ok(m->data, m->len, m->key))
        fail("%s: message %" PRIu64 " (key %" PRIu64 ", len %u, attempt %u) has a corrupt payload",
             where, m->id, m->key, m->len, m->attempt);
    if (m->attempt < 1 || (max_attempts > 0 && m->attempt > max_attempts))
        fail("%s: message %" PRIu64 " has attempt %u (max_attempts %u)", where, m->id, m->attempt,
             max_attempts);
    if ((m->dead_letter_reason == NULL) != (m->dead_letter_group == NULL))
        fail("%s: message %" PRIu64 " has only one of dead_letter_reason/group", where, m->id);
    if ((m->msg_id == NULL) != (m->msg_id_len == 0))
        fail("%s: message %" PRIu64 " has msg_id %p with msg_id_len %zu", where, m->id,
             (const void *)m->msg_id, m->msg_id_len);
    /* A message published with headers carries "fz" = its key first (see
     * op_publish), and every index below header_count reads. */
    if (m->header_count > 0) {
        const uint8_t *v = NULL;
        size_t vl = 0;
        ringmq_status st = ringmq_message_header_get(m, "fz", 2, &v, &vl);
        if (st != RINGMQ_OK || vl != sizeof m->key || memcmp(v, &m->key, vl) != 0)
            fail("%s: message %" PRIu64 " lacks its header fz (%s)", where, m->id, sn(st));
        for (uint32_t i = 0; i < m->header_count; i++)
            if ((st = ringmq_message_header(m, i, NULL, NULL, &v, &vl)) != RINGMQ_OK)
                fail("%s: message %" PRIu64 " header %u: %s", where, m->id, i, sn(st));
        st = ringmq_message_header(m, m->header_count, NULL, NULL, NULL, NULL);
        if (st != RINGMQ_NOT_FOUND)
            fail("%s: header past header_count answered %s", where, sn(st));
    }
}

/* ---- push handlers ---------------------------------------------------- */

static _Thread_local rng_t handler_rng;
static _Thread_local bool handler_rng_ready;

static push_ctx *new_ctx(int tracked, int ordered, uint32_t concurrency, int self_unsub,
                         size_t slot_size, uint32_t max_attempts, unsigned fail_permille) {
    push_ctx *c = calloc(1, sizeof *c);
    if (c == NULL) fail("out of memory");
    c->magic = CTX_MAGIC;
    c->tracked = tracked;
    c->ordered = ordered;
    c->in_id_order = ordered;
    c->concurrency = concurrency;
    c->self_unsub = self_unsub;
    c->slot_size = slot_size;
    c->max_attempts = max_attempts;
    c->fail_permille = fail_permille;
    /* Kept until the broker is freed: a handler that runs late then reads
     * valid memory and reports it, rather than crashing. */
    pthread_mutex_lock(&g.ctx_lock);
    c->next = g.ctxs;
    g.ctxs = c;
    pthread_mutex_unlock(&g.ctx_lock);
    return c;
}

static void try_close(uint32_t drain_ms, const char *who, bool in_handler);

/* A push delivery is under the topic's ack timeout as a pulled one is: a
 * handler call that ends past it (on a loaded machine, a starved thread)
 * may find its message was redelivered meanwhile and handled again, which
 * the engine's at-least-once delivery allows. No delivery can expire
 * before its publish time plus the ack timeout (less the coarse clock's
 * lag), so a call that ends before that proves no expiry; the drain's
 * exactly-once check allows a repeat only for ids marked here. */
static void mark_overrun(const ringmq_message *m) {
    if (!g.expiry || m->id >= ID_CAP) return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    int64_t ack_ns = (int64_t)g.t0.ack_timeout_ms * 1000000;
    if (now_ns - m->timestamp_ns >= ack_ns - 15 * 1000000) atomic_store(&g.overran_push[m->id], 1);
}

static int32_t on_push(const ringmq_message *m, void *user_data) {
    push_ctx *c = user_data;
    if (c == NULL || c->magic != CTX_MAGIC) fail("a handler got a bad user_data %p", user_data);
    if (atomic_load(&g.closed_outside))
        fail("a handler (ordered %d, concurrency %u) ran after ringmq_broker_close returned",
             c->ordered, c->concurrency);
    if (atomic_load(&c->dead))
        fail("a handler (ordered %d, concurrency %u) ran after ringmq_sub_unsubscribe returned "
             "(its user_data would be freed by now)",
             c->ordered, c->concurrency);
    if (atomic_load(&c->self_unsubbed))
        fail("a handler (ordered %d) was called again after it unsubscribed its own "
             "subscription (concurrency 1)",
             c->ordered);
    int running = atomic_fetch_add(&c->running, 1) + 1;
    if ((uint32_t)running > c->concurrency)
        fail("%d handler calls at once on a subscription with concurrency %u", running,
             c->concurrency);
    atomic_fetch_add(&c->calls, 1);
    if (!handler_rng_ready) {
        handler_rng.s = g_seed ^ (uint64_t)(uintptr_t)&handler_rng;
        handler_rng_ready = true;
    }
    rng_t *r = &handler_rng;
    check_message(m, c->slot_size, c->max_attempts, "push handler");
    if (m->delivery_tag != 0) fail("a push message has delivery_tag %" PRIu64, m->delivery_tag);
    int k = m->key < NKEYS ? (int)m->key : -1;
    if (c->ordered && k >= 0) {
        if (atomic_exchange(&c->key_busy[k], 1) != 0)
            fail("two handler calls at once for key %d of an ordered_by_key subscription", k);
        if (m->attempt == 1 && c->in_id_order) {
            uint64_t want = atomic_load(&c->next_first_id[k]);
            if (m->id + 1 < want)
                fail("ordered_by_key: key %d handled id %" PRIu64 " after a later id %" PRIu64,
                     k, m->id, want - 1);
            atomic_store(&c->next_first_id[k], m->id + 1);
        }
    }
    if (chance(r, 30)) sleep_ms(1 + below(r, 2));
    int32_t result = chance(r, c->fail_permille) ? 1 + (int32_t)below(r, 5) : 0;

    if (c->self_unsub && chance(r, 150)) {
        ringmq_sub *s = atomic_exchange(&c->sub, NULL);
        if (s != NULL) {
            ringmq_status st = ringmq_sub_unsubscribe(s);
            if (st != RINGMQ_OK && st != RINGMQ_CLOSED)
                fail("ringmq_sub_unsubscribe from its own handler answered %s", sn(st));
            /* CLOSED: a broker close got there first and drains the
             * subscription, calling its handler until the drain ends. */
            if (st == RINGMQ_OK) atomic_store(&c->self_unsubbed, 1);
        }
    }
    if (atomic_load(&g_phase) == PH_CLOSE && chance(r, 20) &&
        atomic_exchange(&g.handler_closed, 1) == 0)
        try_close(below(r, 3) * 5, "a push handler", true);

    if (c->tracked) mark_overrun(m);
    if (c->ordered && k >= 0) atomic_store(&c->key_busy[k], 0);
    atomic_fetch_sub(&c->running, 1);
    if (result == 0 && c->tracked && atomic_load(&g_phase) != PH_CLOSE) {
        if (m->id >= ID_CAP) fail("tracked id %" PRIu64 " out of range", m->id);
        atomic_fetch_add(&g.acked_push[m->id], 1);
    }
    return result;
}

/* ---- status checks ------------------------------------------------------ */

/* `st` must be one of the `n` statuses given, or RINGMQ_CLOSED once a close
 * has started. After a close returned (`closed_before`: seen before the
 * call), RINGMQ_OK is wrong for any call but stats and metrics. */
static void expect(const char *call, ringmq_status st, bool closed_before, int n, ...) {
    va_list ap;
    va_start(ap, n);
    bool ok = false;
    for (int i = 0; i < n; i++)
        if ((int)st == va_arg(ap, int)) ok = true;
    va_end(ap);
    if (closed_before) {
        /* after close: CLOSED, or an argument error the call would give anyway */
        if (st == RINGMQ_CLOSED || st == RINGMQ_INVALID_ARGUMENT) return;
        if (!ok || st == RINGMQ_OK || st == RINGMQ_EMPTY || st == RINGMQ_TIMEOUT ||
            st == RINGMQ_FULL)
            fail("%s answered %s after ringmq_broker_close returned, want closed", call, sn(st));
    }
    if (st == RINGMQ_CLOSED && atomic_load(&g.close_started)) return;
    if (!ok) fail("%s answered %s (%d)", call, sn(st), (int)st);
    if (st != RINGMQ_OK) {
        const char *e = ringmq_last_error();
        if (e == NULL || strncmp(e, "ringmq_", 7) != 0)
            fail("%s answered %s with last error \"%s\"", call, sn(st), e ? e : "(null)");
    }
}

/* A close from inside a handler cannot wait for the handler calling it, so
 * only one from outside promises that no handler runs afterwards. */
static void try_close(uint32_t drain_ms, const char *who, bool in_handler) {
    atomic_store(&g.close_started, 1);
    ringmq_status st = ringmq_broker_close(g.b, drain_ms);
    /* From a handler while another close runs: CLOSED at once (that close
     * may be joining this very thread), and the broker is not closed yet. */
    if (in_handler && st == RINGMQ_CLOSED) return;
    if (st != RINGMQ_OK) fail("ringmq_broker_close from %s answered %s", who, sn(st));
    atomic_store(&g.closed, 1);
    if (!in_handler) atomic_store(&g.closed_outside, 1);
}

/* ---- tracked accounting ------------------------------------------------- */

static void record_published(uint64_t first, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint64_t id = first + i;
        if (id >= ID_CAP) fail("tracked id %" PRIu64 " out of range", id);
        if (atomic_fetch_add(&g.published_known[id], 1) != 0)
            fail("id %" PRIu64 " was given to two publishes", id);
    }
}

/* Reads dead letters of the tracked topic, acks them and records their ids
 * per origin group. */
static void read_dlq(int32_t timeout_ms, bool closed_before) {
    ringmq_message ms[8];
    size_t n = 0;
    ringmq_status st = ringmq_sub_poll_batch(g.dlqreader, ARRAY_LEN(ms), timeout_ms, ms, &n);
    expect("ringmq_sub_poll_batch(dlq)", st, closed_before, 2, RINGMQ_OK, RINGMQ_EMPTY);
    if (st != RINGMQ_OK) return;
    if (n == 0 || n > ARRAY_LEN(ms)) fail("ringmq_sub_poll_batch(dlq) answered OK with %zu", n);
    for (size_t i = 0; i < n; i++) {
        ringmq_message *m = &ms[i];
        check_message(m, g.t0.slot_size, 0, "dead letter");
        if (m->dead_letter_group == NULL || m->dead_letter_reason == NULL)
            fail("dead letter %" PRIu64 " lacks its group or reason", m->id);
        if (strlen(m->dead_letter_group) != m->dead_letter_group_len ||
            m->dead_letter_reason_len == 0)
            fail("dead letter %" PRIu64 ": group/reason lengths do not match", m->id);
        /* the group text is valid only until the ack */
        int grp = strcmp(m->dead_letter_group, "audit") == 0       ? 1
                  : strcmp(m->dead_letter_group, "pushaudit") == 0 ? 2
                                                                   : 0;
        uint64_t id = m->id;
        st = ringmq_sub_ack(g.dlqreader, m->delivery_tag);
        expect("ringmq_sub_ack(dlq)", st, closed_before, 2, RINGMQ_OK, RINGMQ_INVALID_ARGUMENT);
        if (st != RINGMQ_OK) continue; /* expired: it comes again */
        if (atomic_load(&g_phase) == PH_CLOSE) continue;
        if (id >= ID_CAP) fail("dead letter id %" PRIu64 " out of range", id);
        if (grp == 1)
            atomic_fetch_add(&g.dlq_pull[id], 1);
        else if (grp == 2)
            atomic_fetch_add(&g.dlq_push[id], 1);
    }
}

/* ---- one chaos thread --------------------------------------------------- */

typedef struct {
    int ix;
    rng_t r;
    held_t held[HELD_MAX]; /* deliveries of g.audit this thread holds */
    int nheld;
    uint64_t stale[STALE_MAX]; /* tags of g.audit this thread settled */
    int nstale;
    bool closer;
    bool seen_closed; /* began an operation after a close returned */
    uint64_t close_at, stop_at;
    uint64_t ops;
} worker;

static bool closed_now(void) { return atomic_load(&g.closed) != 0; }

/* Has every thread begun an operation since a close returned? Only then
 * has every call begun before the close finished, so the counters of a
 * subscription stand still: a call still running on another thread may
 * move them after the close returned, and that is its effect, not ours. */
static bool quiet_after_close(void) { return atomic_load(&g.seen_closed) >= g.nthreads; }

static size_t pick_len(rng_t *r, size_t slot_size) {
    switch (below(r, 6)) {
    case 0: return 0;
    case 1: return slot_size;
    case 2: return chance(r, 300) ? slot_size + 1 : slot_size;
    default: return below(r, (uint32_t)slot_size + 1);
    }
}

/* Publishes one message or a batch to `t`; `tracked` records the ids. */
static void op_publish(worker *w, ringmq_topic *t, size_t slot_size, size_t capacity,
                       ringmq_overflow ov, bool tracked) {
    rng_t *r = &w->r;
    uint8_t bufs[MAX_BATCH][64 + 1];
    uint64_t key = tracked || chance(r, 800) ? below(r, NKEYS) : rnd(r);
    int32_t timeout = (int32_t)below(r, 4);
    bool batch = chance(r, 350);
    size_t count = 1;
    if (batch) count = below(r, (uint32_t)(capacity < MAX_BATCH - 1 ? capacity : MAX_BATCH - 1) + 2);
    if (count > MAX_BATCH) count = MAX_BATCH;
    /* at most MAX_THREADS * MAX_BATCH publishes are under way at once */
    if (tracked && atomic_load(&g.published_total) + MAX_THREADS * MAX_BATCH >= ID_CAP) return;
    /* ringmq_topic_publish_ex for some single publishes; a delay only where
     * nothing is counted, and never for a key whose order is checked (a
     * delay reorders its key). */
    bool delayed = false, ex = !batch && chance(r, 300);
    uint64_t delay_ms = ex && !tracked && chance(r, 150) ? 1 + below(r, 20) : 0;
    if (delay_ms > 0) {
        key = NKEYS + below(r, NKEYS);
        delayed = true;
    }
    bool too_large = false;
    ringmq_buf items[MAX_BATCH];
    for (size_t i = 0; i < count; i++) {
        size_t len = pick_len(r, slot_size);
        if (len > slot_size) too_large = true;
        fill_payload(bufs[i], len, key);
        items[i].data = (len == 0 && chance(r, 500)) ? NULL : bufs[i];
        items[i].len = len;
    }
    bool want_id = !tracked || chance(r, 900);
    uint64_t id = UINT64_MAX;
    bool closed_before = closed_now();
    ringmq_status st;
    if (ex) {
        /* Headers (the first is "fz" = the key) on any topic; a msg_id, a
         * delay or a ttl only where nothing is counted. */
        static const char tp[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        static const char *const ids[] = {"m0", "m1", "m2", "m3"};
        ringmq_header hs[3] = {{"fz", 2, (const uint8_t *)&key, sizeof key},
                               {"traceparent", 11, (const uint8_t *)tp, sizeof tp - 1},
                               {"e", 1, NULL, 0}};
        ringmq_publish_options po;
        ringmq_publish_options_default(&po);
        po.key = key;
        po.timeout_ms = timeout;
        po.header_count = below(r, 4);
        po.headers = po.header_count ? hs : NULL;
        if (!tracked) {
            if (chance(r, 200)) {
                po.msg_id = (const uint8_t *)ids[below(r, 4)];
                po.msg_id_len = 2;
            }
            po.delay_ms = delay_ms;
            if (chance(r, 150)) po.ttl_ms = 1 + below(r, 50);
        }
        st = ringmq_topic_publish_ex(t, items[0].data, items[0].len, &po, want_id ? &id : NULL);
    } else if (!batch) {
        st = ringmq_topic_publish(t, items[0].data, items[0].len, key, timeout, want_id ? &id : NULL);
    } else {
        st = ringmq_topic_publish_batch(t, count ? items : (chance(r, 500) ? NULL : items), count, key,
                                  timeout, want_id ? &id : NULL);
    }
    const char *call = batch ? "ringmq_topic_publish_batch" : ex ? "ringmq_topic_publish_ex" : "ringmq_topic_publish";
    if (batch && count > capacity)
        expect(call, st, closed_before, 2, RINGMQ_INVALID_ARGUMENT, RINGMQ_TOO_LARGE);
    else if (too_large)
        expect(call, st, closed_before, 1, RINGMQ_TOO_LARGE);
    else if (delayed) /* max_delayed may be reached */
        expect(call, st, closed_before, 3, RINGMQ_OK, RINGMQ_FULL, RINGMQ_TIMEOUT);
    else if (ov == RINGMQ_OVERFLOW_BLOCK)
        expect(call, st, closed_before, 2, RINGMQ_OK, RINGMQ_TIMEOUT);
    else if (ov == RINGMQ_OVERFLOW_REJECT)
        expect(call, st, closed_before, 2, RINGMQ_OK, RINGMQ_FULL);
    else
        expect(call, st, closed_before, 1, RINGMQ_OK);
    if (tracked && (st == RINGMQ_FULL || st == RINGMQ_TIMEOUT)) atomic_fetch_add(&g.t0_refused, 1);
    if (st != RINGMQ_OK || !tracked || count == 0) return;
    atomic_fetch_add(&g.published_total, count);
    if (want_id)
        record_published(id, count);
    else
        atomic_fetch_add(&g.published_unknown, count);
}

static void forget_stale(worker *w, uint64_t tag) {
    if (w->nstale < STALE_MAX)
        w->stale[w->nstale++] = tag;
    else
        w->stale[below(&w->r, STALE_MAX)] = tag;
}

/* Settles held delivery `i` of the tracked pull subscription. */
static void settle_tracked(worker *w, int i, int how) {
    held_t h = w->held[i];
    w->held[i] = w->held[--w->nheld];
    bool closed_before = closed_now();
    /* The payload must still be there until the delivery is settled. */
    if (!closed_before && payload_broken(&h))
        fail("held delivery %" PRIu64 " (attempt %u): payload changed before it was settled",
             h.id, h.attempt);
    ringmq_status st;
    const char *call;
    switch (how) {
    case 0: call = "ringmq_sub_ack"; st = ringmq_sub_ack(g.audit, h.tag); break;
    case 1:
        /* A requeue at times: back at once, not an attempt. */
        if (chance(&w->r, 250)) {
            call = "ringmq_sub_requeue";
            st = ringmq_sub_requeue(g.audit, h.tag);
        } else {
            call = "ringmq_sub_nack";
            st = ringmq_sub_nack(g.audit, h.tag, below(&w->r, 3) * 5);
        }
        break;
    case 2: call = "ringmq_sub_term"; st = ringmq_sub_term(g.audit, h.tag); break;
    default: call = "ringmq_sub_ack_batch"; st = ringmq_sub_ack_batch(g.audit, &h.tag, 1); break;
    }
    if (g.expiry)
        expect(call, st, closed_before, 2, RINGMQ_OK, RINGMQ_INVALID_ARGUMENT);
    else
        expect(call, st, closed_before, 1, RINGMQ_OK);
    if (st == RINGMQ_OK) {
        forget_stale(w, h.tag);
        if ((how == 0 || how == 3) && atomic_load(&g_phase) != PH_CLOSE)
            atomic_fetch_add(&g.acked_pull[h.id], 1);
    }
}

static void op_tracked_poll(worker *w) {
    rng_t *r = &w->r;
    int room = g.hold_max - w->nheld;
    if (room <= 0) return;
    ringmq_message ms[HELD_MAX];
    size_t n = 0;
    bool closed_before = closed_now();
    ringmq_status st;
    int32_t timeout = (int32_t)below(r, 4);
    if (chance(r, 20)) {
        /* Wakes (each ends one poll that waits, with RINGMQ_INTERRUPTED,
         * taking nothing: allowed below) and the readiness descriptor,
         * looked at as an event loop would. */
        if (ringmq_sub_wake(g.audit) != RINGMQ_OK) fail("ringmq_sub_wake: %s", ringmq_last_error());
        int fd = -1;
        st = ringmq_sub_get_fd(g.audit, &fd);
        expect("ringmq_sub_get_fd", st, closed_before, 1, RINGMQ_OK);
        if (st == RINGMQ_OK) {
            struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
            if (poll(&p, 1, 0) < 0) fail("poll(2) on the readiness descriptor: errno %d", errno);
        }
    }
    if (chance(r, 500)) {
        st = ringmq_sub_poll(g.audit, timeout, &ms[0]);
        n = st == RINGMQ_OK ? 1 : 0;
        expect("ringmq_sub_poll", st, closed_before, 3, RINGMQ_OK, RINGMQ_EMPTY, RINGMQ_INTERRUPTED);
    } else {
        size_t max = 1 + below(r, (uint32_t)room);
        st = ringmq_sub_poll_batch(g.audit, max, timeout, ms, &n);
        expect("ringmq_sub_poll_batch", st, closed_before, 3, RINGMQ_OK, RINGMQ_EMPTY,
               RINGMQ_INTERRUPTED);
        if (st == RINGMQ_OK && (n == 0 || n > max)) fail("ringmq_sub_poll_batch: %zu of max %zu", n, max);
    }
    if (st != RINGMQ_OK) return;
    for (size_t i = 0; i < n; i++) {
        check_message(&ms[i], g.t0.slot_size, g.t0.max_attempts, "poll(audit)");
        if (ms[i].id >= ID_CAP) fail("polled id %" PRIu64 " out of range", ms[i].id);
        if (ms[i].dead_letter_group != NULL) fail("a message of a plain topic has a dead-letter group");
        held_t *h = &w->held[w->nheld++];
        h->sub = g.audit;
        h->tag = ms[i].delivery_tag;
        h->id = ms[i].id;
        h->key = ms[i].key;
        h->data = ms[i].data;
        h->len = ms[i].len;
        h->attempt = ms[i].attempt;
        h->valid_until_ms = valid_until(g.t0.ack_timeout_ms);
    }
}

static void op_tracked_settle(worker *w) {
    rng_t *r = &w->r;
    if (w->nheld == 0) return;
    int i = (int)below(r, (uint32_t)w->nheld);
    uint32_t p = below(r, 100);
    if (p < 45) {
        settle_tracked(w, i, 0);
    } else if (p < 65) {
        settle_tracked(w, i, 1);
    } else if (p < 72) {
        settle_tracked(w, i, 2);
    } else if (p < 80) {
        settle_tracked(w, i, 3);
    } else if (p < 92) {
        bool closed_before = closed_now();
        uint64_t until = valid_until(g.t0.ack_timeout_ms);
        ringmq_status st = ringmq_sub_in_progress(g.audit, w->held[i].tag);
        if (st == RINGMQ_OK) w->held[i].valid_until_ms = until;
        if (g.expiry)
            expect("ringmq_sub_in_progress", st, closed_before, 2, RINGMQ_OK, RINGMQ_INVALID_ARGUMENT);
        else
            expect("ringmq_sub_in_progress", st, closed_before, 1, RINGMQ_OK);
    } else if (!g.expiry && w->nheld > 1) {
        /* Every held tag in one ack_batch, with a stale one mixed in at times:
         * every valid tag must take effect whatever the status says. */
        uint64_t tags[HELD_MAX + 1];
        int n = 0;
        for (int j = 0; j < w->nheld; j++) tags[n++] = w->held[j].tag;
        bool with_stale = w->nstale > 0 && chance(r, 500);
        if (with_stale) {
            int at = (int)below(r, (uint32_t)n + 1);
            tags[n] = tags[at];
            tags[at] = w->stale[below(r, (uint32_t)w->nstale)];
            n++;
        }
        bool closed_before = closed_now();
        for (int j = 0; j < w->nheld; j++)
            if (!closed_before && payload_broken(&w->held[j]))
                fail("held delivery %" PRIu64 ": payload changed before it was settled",
                     w->held[j].id);
        ringmq_status st = ringmq_sub_ack_batch(g.audit, tags, (size_t)n);
        if (with_stale)
            expect("ringmq_sub_ack_batch(with a stale tag)", st, closed_before, 1,
                   RINGMQ_INVALID_ARGUMENT);
        else
            expect("ringmq_sub_ack_batch", st, closed_before, 1, RINGMQ_OK);
        if (!closed_before && !atomic_load(&g.close_started)) {
            for (int j = 0; j < w->nheld; j++) {
                /* each valid tag was acked: acking it again is refused */
                ringmq_status again = ringmq_sub_ack(g.audit, w->held[j].tag);
                if (again != RINGMQ_INVALID_ARGUMENT && !atomic_load(&g.close_started))
                    fail("a tag acked by ringmq_sub_ack_batch (status %s) acks again: %s", sn(st),
                         sn(again));
                if (atomic_load(&g_phase) != PH_CLOSE) atomic_fetch_add(&g.acked_pull[w->held[j].id], 1);
                forget_stale(w, w->held[j].tag);
            }
            w->nheld = 0;
        } else {
            w->nheld = 0; /* after close nothing is tracked any more */
        }
    } else if (g.expiry && chance(r, 300)) {
        /* Forget it: the ack timeout must bring it back. */
        w->held[i] = w->held[--w->nheld];
    }
}

/* Settles a tag this thread already settled, or a made-up one: refused. */
static void op_tracked_bad_tag(worker *w) {
    rng_t *r = &w->r;
    uint64_t tag;
    if (w->nstale > 0 && chance(r, 700))
        tag = w->stale[below(r, (uint32_t)w->nstale)];
    else if (chance(r, 500))
        tag = ((uint64_t)1 << 40) + (rnd(r) >> 26); /* a ring tag far beyond any id */
    else
        tag = UINT64_MAX - below(r, 4);
    ringmq_sub_stats before, after;
    bool closed_before = closed_now();
    ringmq_status st0 = ringmq_sub_get_stats(g.audit, &before);
    ringmq_status st;
    const char *call;
    switch (below(r, 5)) {
    case 0: call = "ringmq_sub_ack(bad tag)"; st = ringmq_sub_ack(g.audit, tag); break;
    case 1: call = "ringmq_sub_nack(bad tag)"; st = ringmq_sub_nack(g.audit, tag, 1); break;
    case 2: call = "ringmq_sub_term(bad tag)"; st = ringmq_sub_term(g.audit, tag); break;
    case 3: call = "ringmq_sub_in_progress(bad tag)"; st = ringmq_sub_in_progress(g.audit, tag); break;
    default: call = "ringmq_sub_ack_batch(bad tag)"; st = ringmq_sub_ack_batch(g.audit, &tag, 1); break;
    }
    expect(call, st, closed_before, 1, RINGMQ_INVALID_ARGUMENT);
    (void)st0;
    /* After close, a refused settle changes nothing (checked on the counters,
     * once no other thread's earlier call can still move them). */
    if (closed_before && st0 == RINGMQ_OK && quiet_after_close() &&
        ringmq_sub_get_stats(g.audit, &after) == RINGMQ_OK &&
        (after.acked != before.acked || after.nacked != before.nacked ||
         after.termed != before.termed))
        fail("%s answered %s after close but the counters moved", call, sn(st));
}

/* Settles a held delivery after close: CLOSED, and nothing changes. */
static void op_settle_after_close(worker *w) {
    if (w->nheld == 0 || !closed_now()) return;
    held_t h = w->held[--w->nheld];
    ringmq_sub_stats before, after;
    if (ringmq_sub_get_stats(g.audit, &before) != RINGMQ_OK) fail("stats after close refused");
    int how = (int)below(&w->r, 3);
    ringmq_status st = how == 0 ? ringmq_sub_ack(g.audit, h.tag)
                       : how == 1 ? ringmq_sub_nack(g.audit, h.tag, 0)
                                  : ringmq_sub_term(g.audit, h.tag);
    if (st != RINGMQ_CLOSED && st != RINGMQ_INVALID_ARGUMENT)
        fail("settling a held delivery after close answered %s", sn(st));
    if (ringmq_sub_get_stats(g.audit, &after) != RINGMQ_OK) fail("stats after close refused");
    if (quiet_after_close() &&
        (after.acked != before.acked || after.nacked != before.nacked ||
         after.termed != before.termed || after.in_flight != before.in_flight))
        fail("a %s after close answered %s but took effect (acked %" PRIu64 "->%" PRIu64
             ", nacked %" PRIu64 "->%" PRIu64 ", termed %" PRIu64 "->%" PRIu64
             ", in_flight %" PRIu64 "->%" PRIu64 ")",
             how == 0 ? "ack" : how == 1 ? "nack" : "term", sn(st), before.acked, after.acked,
             before.nacked, after.nacked, before.termed, after.termed, before.in_flight,
             after.in_flight);
}

/* ---- churn: subscriptions that come and go -------------------------------- */

static const char *const group_names[] = {"c0", "c1", "c2", "c3", "audit", "pushaudit"};
static const char *const topic_names[] = {"x0", "x1", "x2", "x0.dlq", "t1"};

static void churn_subscribe(worker *w, churn_slot *cs) {
    rng_t *r = &w->r;
    /* which topic: t0, t1, or a handle of a topic slot */
    int which = (int)below(r, 3);
    ringmq_topic *t;
    size_t slot_size;
    uint32_t max_attempts = 0;
    /* unknown for other topics: the shortest a churn topic may have */
    uint32_t ack_timeout_ms = 20;
    bool lossy_topic = false, is_dlq = false;
    topic_slot *ts = NULL;
    if (which == 0) {
        t = g.t0.t; slot_size = g.t0.slot_size; max_attempts = g.t0.max_attempts;
        ack_timeout_ms = g.t0.ack_timeout_ms;
    } else if (which == 1) {
        t = g.t1.t; slot_size = g.t1.slot_size; max_attempts = g.t1.max_attempts;
        ack_timeout_ms = g.t1.ack_timeout_ms;
        lossy_topic = g.t1.overflow == RINGMQ_OVERFLOW_DROP_OLDEST;
    } else {
        ts = &g.tslots[below(r, TOPIC_SLOTS)];
        pthread_mutex_lock(&ts->lock);
        if (ts->t == NULL) {
            pthread_mutex_unlock(&ts->lock);
            return;
        }
        t = ts->t; slot_size = ts->slot_size; is_dlq = ts->is_dlq;
        lossy_topic = ts->overflow == RINGMQ_OVERFLOW_DROP_OLDEST;
    }
    ringmq_sub_options o;
    ringmq_sub_options_default(&o);
    /* mostly lossy on t0, or the tracked producers would mostly wait */
    o.lossy = chance(r, which == 0 ? 850 : 400);
    o.start = chance(r, 500) ? RINGMQ_START_EARLIEST : RINGMQ_START_LATEST;
    bool push = chance(r, 500);
    const char *group = group_names[below(r, ARRAY_LEN(group_names))];
    bool bad_name = chance(r, 60);
    char longname[300];
    if (bad_name) {
        switch (below(r, 3)) {
        case 0: group = ""; break;
        case 1: memset(longname, 'g', 256); longname[256] = 0; group = longname; break;
        default: group = "\xff\xfe"; break;
        }
    }
    bool closed_before = closed_now();
    ringmq_sub *s = NULL;
    ringmq_status st;
    push_ctx *ctx = NULL;
    if (push) {
        o.concurrency = 1 + below(r, 3);
        o.ordered_by_key = chance(r, 400);
        ctx = new_ctx(0, o.ordered_by_key, o.concurrency, 0, slot_size, max_attempts,
                      below(r, 500));
        if (is_dlq) ctx->in_id_order = 0;
        st = ringmq_topic_subscribe(t, group, on_push, ctx, &o, &s);
    } else {
        st = ringmq_topic_subscribe_pull(t, group, &o, &s);
    }
    if (ts) pthread_mutex_unlock(&ts->lock);
    if (bad_name)
        expect("ringmq_topic_subscribe(bad name)", st, closed_before, 1, RINGMQ_INVALID_ARGUMENT);
    else
        expect("ringmq_topic_subscribe", st, closed_before, 2, RINGMQ_OK, RINGMQ_EXISTS);
    if (st != RINGMQ_OK) {
        if (s != NULL) fail("a failed subscribe left *out = %p", (void *)s);
        if (ctx) atomic_store(&ctx->dead, 1);
        return;
    }
    cs->sub = s;
    cs->ctx = ctx;
    cs->ordered = o.ordered_by_key;
    cs->slot_size = slot_size;
    cs->max_attempts = max_attempts;
    cs->lossy_topic = lossy_topic;
    cs->ack_timeout_ms = ack_timeout_ms;
    cs->nheld = 0;
}

static void churn_unsubscribe(churn_slot *cs) {
    bool closed_before = closed_now();
    ringmq_status st = ringmq_sub_unsubscribe(cs->sub);
    if (closed_before) {
        if (st != RINGMQ_CLOSED) fail("ringmq_sub_unsubscribe after close answered %s, want closed", sn(st));
    } else if (st != RINGMQ_OK && st != RINGMQ_CLOSED) {
        fail("ringmq_sub_unsubscribe answered %s", sn(st));
    } else if (st == RINGMQ_CLOSED && !atomic_load(&g.close_started)) {
        fail("ringmq_sub_unsubscribe answered closed before any close");
    }
    if (cs->ctx) atomic_store(&cs->ctx->dead, 1);
    cs->sub = NULL;
    cs->ctx = NULL;
    cs->nheld = 0; /* abandoned with it: never read again */
}

static void op_churn(worker *w) {
    rng_t *r = &w->r;
    churn_slot *cs = &g.churn[below(r, CHURN_SLOTS)];
    pthread_mutex_lock(&cs->lock);
    if (cs->sub == NULL) {
        churn_subscribe(w, cs);
        pthread_mutex_unlock(&cs->lock);
        return;
    }
    uint32_t p = below(r, 100);
    bool closed_before = closed_now();
    if (p < 12) {
        churn_unsubscribe(cs);
    } else if (p < 20) {
        ringmq_sub_stats st;
        ringmq_status s = ringmq_sub_get_stats(cs->sub, &st);
        expect("ringmq_sub_get_stats", s, false, 1, RINGMQ_OK);
    } else if (cs->ctx != NULL) {
        /* a push subscription: poll and settle are refused */
        ringmq_message m;
        ringmq_status s = ringmq_sub_poll(cs->sub, 0, &m);
        expect("ringmq_sub_poll(push)", s, closed_before, 1, RINGMQ_INVALID_ARGUMENT);
        s = ringmq_sub_ack(cs->sub, rnd(r));
        expect("ringmq_sub_ack(push)", s, closed_before, 1, RINGMQ_INVALID_ARGUMENT);
    } else if (p < 55 && cs->nheld < HELD_MAX) {
        ringmq_message ms[HELD_MAX];
        size_t n = 0;
        size_t max = 1 + below(r, (uint32_t)(HELD_MAX - cs->nheld));
        ringmq_status s = ringmq_sub_poll_batch(cs->sub, max, (int32_t)below(r, 3), ms, &n);
        expect("ringmq_sub_poll_batch(churn)", s, closed_before, 2, RINGMQ_OK, RINGMQ_EMPTY);
        for (size_t i = 0; s == RINGMQ_OK && i < n; i++) {
            check_message(&ms[i], cs->slot_size, cs->max_attempts, "poll(churn)");
            held_t *h = &cs->held[cs->nheld++];
            h->tag = ms[i].delivery_tag;
            h->id = ms[i].id;
            h->key = ms[i].key;
            h->data = ms[i].data;
            h->len = ms[i].len;
            h->attempt = ms[i].attempt;
            h->valid_until_ms = valid_until(cs->ack_timeout_ms);
        }
    } else if (cs->nheld > 0) {
        int i = (int)below(r, (uint32_t)cs->nheld);
        held_t h = cs->held[i];
        if (!closed_before && payload_broken(&h))
            fail("churn delivery %" PRIu64 " (attempt %u): payload changed before it was settled",
                 h.id, h.attempt);
        cs->held[i] = cs->held[--cs->nheld];
        ringmq_status s;
        uint32_t how = below(r, 10);
        if (how < 5)
            s = ringmq_sub_ack(cs->sub, h.tag);
        else if (how < 7)
            s = ringmq_sub_nack(cs->sub, h.tag, below(r, 10));
        else if (how < 8)
            s = ringmq_sub_term(cs->sub, h.tag);
        else if (how < 9) {
            uint64_t until = valid_until(cs->ack_timeout_ms);
            s = ringmq_sub_in_progress(cs->sub, h.tag);
            if (s == RINGMQ_OK) {
                h.valid_until_ms = until;
                cs->held[cs->nheld++] = h;
            }
        } else {
            /* forgotten: the ack timeout brings it back, and frees its slot */
            pthread_mutex_unlock(&cs->lock);
            return;
        }
        /* a random tag acked by someone else may have taken it first */
        expect("settle(churn)", s, closed_before, 2, RINGMQ_OK, RINGMQ_INVALID_ARGUMENT);
    } else {
        /* random tags on an untracked subscription: refused or (by chance) valid */
        uint64_t tag = chance(r, 500) ? below(r, 64) : rnd(r);
        ringmq_status s = ringmq_sub_nack(cs->sub, tag, 0);
        expect("ringmq_sub_nack(random tag)", s, closed_before, 2, RINGMQ_OK, RINGMQ_INVALID_ARGUMENT);
    }
    pthread_mutex_unlock(&cs->lock);
}

/* A push subscription whose handler may unsubscribe it from inside. */
static void op_self_unsubscriber(worker *w) {
    rng_t *r = &w->r;
    ringmq_sub_options o;
    ringmq_sub_options_default(&o);
    o.concurrency = 1; /* so a late call cannot be one that was already running */
    o.ordered_by_key = chance(r, 500);
    push_ctx *c = new_ctx(0, o.ordered_by_key, 1, 1, g.t1.slot_size, g.t1.max_attempts, 200);
    char name[32];
    snprintf(name, sizeof name, "self%" PRIu64, rnd(r) % 1000000);
    bool closed_before = closed_now();
    ringmq_sub *s = NULL;
    ringmq_status st = ringmq_topic_subscribe(g.t1.t, name, on_push, c, &o, &s);
    expect("ringmq_topic_subscribe(self-unsubscriber)", st, closed_before, 2, RINGMQ_OK, RINGMQ_EXISTS);
    if (st == RINGMQ_OK) atomic_store(&c->sub, s);
}

/* ---- topic handles that come and go --------------------------------------- */

static void op_topic(worker *w) {
    rng_t *r = &w->r;
    topic_slot *ts = &g.tslots[below(r, TOPIC_SLOTS)];
    pthread_mutex_lock(&ts->lock);
    bool closed_before = closed_now();
    if (ts->t == NULL) {
        const char *name = topic_names[below(r, ARRAY_LEN(topic_names))];
        ringmq_topic *t = NULL;
        ringmq_status st;
        if (chance(r, 500)) {
            ringmq_topic_options o;
            ringmq_topic_options_default(&o);
            o.capacity = (size_t)1 << below(r, 5);
            o.slot_size = 1 + below(r, 64);
            o.overflow = (ringmq_overflow)below(r, 3);
            o.max_attempts = 1 + below(r, 3);
            o.backoff_base_ms = 1;
            o.backoff_max_ms = 1 + below(r, 5);
            o.ack_timeout_ms = 20 + below(r, 200);
            bool bad = chance(r, 100);
            if (bad) o.capacity = chance(r, 500) ? 0 : 3;
            st = ringmq_topic_create(g.b, name, &o, &t);
            if (bad)
                expect("ringmq_topic_create(bad capacity)", st, closed_before, 1,
                       RINGMQ_INVALID_ARGUMENT);
            else
                expect("ringmq_topic_create", st, closed_before, 2, RINGMQ_OK, RINGMQ_EXISTS);
            if (st == RINGMQ_OK) {
                ts->slot_size = o.slot_size;
                ts->capacity = o.capacity;
                ts->overflow = o.overflow;
            }
        } else {
            st = ringmq_topic_open(g.b, name, &t);
            expect("ringmq_topic_open", st, closed_before, 2, RINGMQ_OK, RINGMQ_NOT_FOUND);
            if (st == RINGMQ_OK) {
                /* the shape is unknown here: publish only what fits anything,
                 * and check deliveries against the largest slot_size */
                ts->slot_size = (size_t)1 << 24;
                ts->capacity = 1;
                ts->overflow = RINGMQ_OVERFLOW_REJECT;
            }
        }
        if (st != RINGMQ_OK && t != NULL) fail("a failed topic create/open left *out set");
        ts->is_dlq = strstr(name, ".dlq") != NULL;
        ts->t = t;
    } else if (chance(r, 300)) {
        ringmq_topic_release(ts->t);
        ts->t = NULL;
    } else if (chance(r, 300)) {
        ringmq_topic_stats st;
        expect("ringmq_topic_get_stats", ringmq_topic_get_stats(ts->t, &st), false, 1, RINGMQ_OK);
        if (st.depth > st.capacity) fail("topic depth %" PRIu64 " over capacity %" PRIu64, st.depth, st.capacity);
    } else {
        /* opened handles: the real policy is unknown, so allow all outcomes */
        uint8_t buf[2];
        fill_payload(buf, 1, 3);
        ringmq_status st = ringmq_topic_publish(ts->t, buf, 1, 3, (int32_t)below(r, 3), NULL);
        expect("ringmq_topic_publish(topic slot)", st, closed_before, 3, RINGMQ_OK, RINGMQ_FULL,
               RINGMQ_TIMEOUT);
    }
    pthread_mutex_unlock(&ts->lock);
}

/* ---- stats, metrics, bad input ------------------------------------------- */

static void check_sub_sum(const char *what, const ringmq_sub_stats *s) {
    uint64_t sum = s->acked + s->nacked + s->expired + s->termed + s->in_flight;
    if (s->delivered != sum)
        fail("%s: delivered %" PRIu64 " != acked %" PRIu64 " + nacked %" PRIu64 " + expired %" PRIu64
             " + termed %" PRIu64 " + in_flight %" PRIu64 " (= %" PRIu64 ")",
             what, s->delivered, s->acked, s->nacked, s->expired, s->termed, s->in_flight, sum);
}

static void op_stats(worker *w) {
    rng_t *r = &w->r;
    bool closed_before = closed_now();
    switch (below(r, 4)) {
    case 0: {
        ringmq_topic_stats ts;
        ringmq_status st = ringmq_topic_get_stats(chance(r, 500) ? g.t0.t : g.t1.t, &ts);
        expect("ringmq_topic_get_stats", st, false, 1, RINGMQ_OK);
        if (ts.depth > ts.capacity) fail("topic depth %" PRIu64 " over capacity %" PRIu64, ts.depth, ts.capacity);
        break;
    }
    case 1: {
        ringmq_sub_stats ss;
        expect("ringmq_sub_get_stats", ringmq_sub_get_stats(chance(r, 500) ? g.audit : g.pushaudit, &ss),
               false, 1, RINGMQ_OK);
        break;
    }
    case 2: {
        ringmq_pool_stats ps;
        expect("ringmq_broker_get_pool_stats", ringmq_broker_get_pool_stats(g.b, &ps), false, 1,
               RINGMQ_OK);
        if (ps.workers > g.workers_max || ps.busy > g.workers_max)
            fail("pool: %" PRIu64 " workers, %" PRIu64 " busy, workers_max %u", ps.workers, ps.busy,
                 g.workers_max);
        if (!(ps.utilisation >= 0.0 && ps.utilisation <= 1.0))
            fail("pool utilisation %f outside 0..1", ps.utilisation);
        break;
    }
    default: {
        size_t needed = 0;
        ringmq_status st = ringmq_broker_metrics_text(g.b, NULL, 0, &needed);
        expect("ringmq_broker_metrics_text(size)", st, false, 1, RINGMQ_TOO_LARGE);
        size_t cap = below(r, (uint32_t)needed + 64);
        if (chance(r, 200)) cap = below(r, 16);
        char *buf = malloc(cap + 16);
        if (buf == NULL) fail("out of memory");
        memset(buf, 0xAB, cap + 16);
        size_t needed2 = 0;
        st = ringmq_broker_metrics_text(g.b, cap ? buf : NULL, cap, &needed2);
        expect("ringmq_broker_metrics_text", st, false, 2, RINGMQ_OK, RINGMQ_TOO_LARGE);
        if (st == RINGMQ_OK) {
            if (needed2 == 0 || needed2 > cap || buf[needed2 - 1] != '\0' ||
                strlen(buf) != needed2 - 1)
                fail("ringmq_broker_metrics_text: OK with needed %zu, cap %zu, text length %zu", needed2,
                     cap, strlen(buf));
            for (size_t i = cap; i < cap + 16; i++)
                if ((unsigned char)buf[i] != 0xAB) fail("ringmq_broker_metrics_text wrote past cap");
        } else {
            if (needed2 <= cap) fail("ringmq_broker_metrics_text: too large with needed %zu <= cap %zu", needed2, cap);
            for (size_t i = 0; i < cap + 16; i++)
                if ((unsigned char)buf[i] != 0xAB)
                    fail("ringmq_broker_metrics_text answered too large but wrote into buf");
        }
        free(buf);
        (void)closed_before;
        break;
    }
    }
}

static void op_bad_input(worker *w) {
    rng_t *r = &w->r;
    ringmq_message m;
    size_t n;
    uint64_t id;
    ringmq_topic *t = NULL;
    ringmq_sub *s = NULL;
    ringmq_topic_stats ts;
    ringmq_sub_stats ss;
    ringmq_pool_stats ps;
    bool cb = closed_now();
#define BAD(call) expect(#call, (call), cb, 1, RINGMQ_INVALID_ARGUMENT)
    ringmq_publish_options po;
    ringmq_publish_options_default(&po);
    po.header_count = 2; /* with NULL headers */
    size_t needed;
    switch (below(r, 27)) {
    case 0: BAD(ringmq_topic_publish(NULL, "x", 1, 0, 0, &id)); break;
    case 1: BAD(ringmq_topic_publish(g.t1.t, NULL, 1, 0, 0, &id)); break;
    case 2: BAD(ringmq_topic_publish(g.t1.t, "x", 1, 0, -2, &id)); break;
    case 3: BAD(ringmq_topic_publish_batch(g.t1.t, NULL, 2, 0, 0, &id)); break;
    case 4: BAD(ringmq_sub_poll(NULL, 0, &m)); break;
    case 5: BAD(ringmq_sub_poll(g.audit, 0, NULL)); break;
    case 6: BAD(ringmq_sub_poll(g.audit, -5, &m)); break;
    case 7: BAD(ringmq_sub_poll_batch(g.audit, 0, 0, &m, &n)); break;
    case 8: BAD(ringmq_sub_poll_batch(g.audit, 1, 0, &m, NULL)); break;
    case 9: BAD(ringmq_sub_ack(NULL, 1)); break;
    case 10: BAD(ringmq_sub_ack_batch(g.audit, NULL, 3)); break;
    case 11: BAD(ringmq_topic_subscribe(g.t1.t, "nohandler", NULL, NULL, NULL, &s)); break;
    case 12: BAD(ringmq_topic_subscribe_pull(g.t1.t, NULL, NULL, &s)); break;
    case 13: BAD(ringmq_topic_subscribe_pull(g.t1.t, "nout", NULL, NULL)); break;
    case 14: BAD(ringmq_topic_create(g.b, NULL, NULL, &t)); break;
    case 15: BAD(ringmq_topic_open(NULL, "t1", &t)); break;
    case 16: BAD(ringmq_topic_get_stats(NULL, &ts)); break;
    case 17: BAD(ringmq_sub_get_stats(g.audit, NULL)); break;
    case 18: BAD(ringmq_broker_get_pool_stats(NULL, &ps)); break;
    case 19: BAD(ringmq_sub_unsubscribe(NULL)); break;
    case 20: BAD(ringmq_broker_close(NULL, 0)); break;
    case 21: BAD(ringmq_topic_publish_ex(g.t1.t, "x", 1, &po, &id)); break;
    case 22: BAD(ringmq_message_header(NULL, 0, NULL, NULL, NULL, NULL)); break;
    case 23: BAD(ringmq_sub_pause(NULL)); break;
    case 24: BAD(ringmq_sub_why_idle(g.audit, NULL, 4, &needed)); break;
    case 25: {
        /* A struct_size no header ever had: 0, no room for itself, below
         * the first version, or ending inside a field. */
        static const uint32_t sizes[] = {0, 3, 8, 61};
        uint32_t size = sizes[below(r, 4)];
        ringmq_topic_options bad_to;
        ringmq_topic_options_default(&bad_to);
        bad_to.struct_size = size;
        ringmq_sub_options bad_so;
        ringmq_sub_options_default(&bad_so);
        bad_so.struct_size = size == 61 ? 18 : size;
        ringmq_publish_options bad_po;
        ringmq_publish_options_default(&bad_po);
        bad_po.struct_size = size;
        BAD(ringmq_topic_create(g.b, "bad-size", &bad_to, &t));
        BAD(ringmq_topic_subscribe_pull(g.t1.t, "bad-size", &bad_so, &s));
        BAD(ringmq_topic_publish_ex(g.t1.t, "x", 1, &bad_po, &id));
        break;
    }
    default: {
        char buf[4];
        BAD(ringmq_broker_metrics_text(g.b, NULL, 4, &needed));
        BAD(ringmq_broker_metrics_text(g.b, buf, sizeof buf, NULL));
        ringmq_topic_release(NULL);
        ringmq_broker_free(NULL);
        ringmq_broker_options_default(NULL);
        ringmq_topic_options_default(NULL);
        ringmq_sub_options_default(NULL);
        ringmq_publish_options_default(NULL);
        break;
    }
    }
#undef BAD
    (void)ss;
    if (t != NULL || s != NULL) fail("a refused call set its out pointer");
    if (strlen(ringmq_status_str((ringmq_status)below(r, 20))) == 0) fail("empty status string");
}

/* ---- fork in the middle of a run ----------------------------------------- */

static int fork_child(void) {
    atomic_store(&g_phase, PH_FORK_CHILD);
    arm_watchdog(10);
    /* a fresh broker works in the child */
    ringmq_broker *b = NULL;
    ringmq_topic *t = NULL;
    ringmq_sub *s = NULL;
    ringmq_message m;
    child_step = ": ringmq_broker_new and a round trip on a fresh broker";
    if (ringmq_broker_new(NULL, &b) != RINGMQ_OK) return 10;
    if (ringmq_topic_create(b, "child", NULL, &t) != RINGMQ_OK) return 11;
    if (ringmq_topic_subscribe_pull(t, "g", NULL, &s) != RINGMQ_OK) return 12;
    if (ringmq_topic_publish(t, "hi", 2, 0, 1000, NULL) != RINGMQ_OK) return 13;
    if (ringmq_sub_poll(s, 1000, &m) != RINGMQ_OK || m.len != 2) return 14;
    if (ringmq_sub_ack(s, m.delivery_tag) != RINGMQ_OK) return 15;
    if (ringmq_sub_unsubscribe(s) != RINGMQ_OK) return 16;
    ringmq_topic_release(t);
    child_step = ": ringmq_broker_close of the fresh broker";
    if (ringmq_broker_close(b, 100) != RINGMQ_OK) return 17;
    child_step = ": ringmq_broker_free of the fresh broker";
    ringmq_broker_free(b);
    /* the parent's broker, inherited without its threads: stats read, a
     * publish answers CLOSED (a child cannot use it), freeing it returns */
    ringmq_topic_stats ts;
    child_step = ": ringmq_topic_get_stats of an inherited topic";
    if (ringmq_topic_get_stats(g.t1.t, &ts) != RINGMQ_OK) return 18;
    uint8_t one = pattern_byte(0, 0);
    child_step = ": ringmq_topic_publish to an inherited topic";
    ringmq_status st = ringmq_topic_publish(g.t1.t, &one, 1, 0, 0, NULL);
    if (st != RINGMQ_CLOSED) return 19;
    child_step = ": ringmq_broker_free of the inherited broker";
    ringmq_broker_free(g.b);
    return 0;
}

static void op_fork(worker *w) {
    (void)w;
    if (skip.fork || atomic_exchange(&g.forked, 1) != 0) return;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) fail("fork: %s", strerror(errno));
    if (pid == 0) _exit(fork_child());
    int status = 0;
    for (int waited = 0;; waited += 5) {
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid) break;
        if (got < 0) fail("waitpid: %s", strerror(errno));
        if (waited > 15000) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail("a child forked mid-run did not finish in 15 s");
        }
        sleep_ms(5);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("a child forked mid-run failed: %s %d (10-17: a fresh broker did not work in it; "
             "18: stats of an inherited topic; 3: hang, see its message)",
             WIFEXITED(status) ? "exit" : "signal",
             WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

/* ---- the thread loop ----------------------------------------------------- */

static void one_op(worker *w) {
    rng_t *r = &w->r;
    uint32_t p = below(r, 1000);
    if (p < 220) op_publish(w, g.t0.t, g.t0.slot_size, g.t0.capacity, g.t0.overflow, true);
    else if (p < 270) op_publish(w, g.t1.t, g.t1.slot_size, g.t1.capacity, g.t1.overflow, false);
    else if (p < 400) op_tracked_poll(w);
    else if (p < 600) op_tracked_settle(w);
    else if (p < 630) op_tracked_bad_tag(w);
    else if (p < 680) read_dlq((int32_t)below(r, 2), closed_now());
    else if (p < 800) op_churn(w);
    else if (p < 830) op_topic(w);
    else if (p < 880) op_stats(w);
    else if (p < 940) op_bad_input(w);
    else if (p < 945) op_self_unsubscriber(w);
    else if (p < 946 && atomic_load(&g_phase) == PH_CHAOS && chance(r, 100)) op_fork(w);
    else if (p < 960) op_settle_after_close(w);
    else {
        /* the last error is this thread's own and names the call */
        ringmq_status st = ringmq_topic_open(g.b, "no such topic", &(ringmq_topic *){NULL});
        expect("ringmq_topic_open(unknown)", st, closed_now(), 1, RINGMQ_NOT_FOUND);
        if (st == RINGMQ_NOT_FOUND && strstr(ringmq_last_error(), "ringmq_topic_open") == NULL)
            fail("last error \"%s\" does not name ringmq_topic_open", ringmq_last_error());
    }
    w->ops++;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    while (!atomic_load(&g.stop)) {
        if (!w->seen_closed && closed_now()) {
            w->seen_closed = true;
            atomic_fetch_add(&g.seen_closed, 1);
        }
        uint64_t t = now_ms();
        if (w->closer && w->close_at != 0 && t >= w->close_at) {
            w->close_at = 0;
            try_close(below(&w->r, 4) * 10, "a thread", false);
        }
        if (w->stop_at != 0 && t >= w->stop_at) break;
        one_op(w);
    }
    /* settle what this thread holds (not tracked after close) */
    while (w->nheld > 0 && atomic_load(&g_phase) == PH_CHAOS)
        settle_tracked(w, w->nheld - 1, chance(&w->r, 700) ? 0 : 1);
    w->nheld = 0;
    return NULL;
}

static void run_threads(worker *ws, int n) {
    pthread_t th[MAX_THREADS];
    for (int i = 0; i < n; i++)
        if (pthread_create(&th[i], NULL, worker_main, &ws[i]) != 0) fail("pthread_create failed");
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
}

/* ---- drain and accounting ------------------------------------------------- */

static void get_sub_stats(ringmq_sub *s, ringmq_sub_stats *out, const char *what) {
    ringmq_status st = ringmq_sub_get_stats(s, out);
    if (st != RINGMQ_OK) fail("ringmq_sub_get_stats(%s) answered %s", what, sn(st));
}

static uint64_t distinct_seen(atomic_uchar *a, atomic_uchar *b) {
    uint64_t n = 0;
    for (uint32_t id = 0; id < ID_CAP; id++)
        if (atomic_load(&a[id]) + atomic_load(&b[id]) > 0) n++;
    return n;
}

static void drain_and_check(void) {
    atomic_store(&g_phase, PH_DRAIN);
    ringmq_topic_stats ts;
    if (ringmq_topic_get_stats(g.t0.t, &ts) != RINGMQ_OK) fail("topic stats refused");
    uint64_t published = atomic_load(&g.published_total);
    if (ts.published != published)
        fail("topic t0 counts %" PRIu64 " published, the publishers saw %" PRIu64 " succeed",
             ts.published, published);
    /* Fewer failures from now on, so retries end. */
    g.pushaudit_ctx->fail_permille /= 2;
    uint64_t deadline = now_ms() + 30000, stable_since = 0;
    ringmq_sub_stats a, p, d;
    for (;;) {
        ringmq_message ms[32];
        size_t n = 0;
        ringmq_status st = ringmq_sub_poll_batch(g.audit, ARRAY_LEN(ms), 5, ms, &n);
        /* A wake left over from the run ends one poll here, taking nothing. */
        if (st != RINGMQ_OK && st != RINGMQ_EMPTY && st != RINGMQ_INTERRUPTED)
            fail("drain: ringmq_sub_poll_batch answered %s", sn(st));
        for (size_t i = 0; st == RINGMQ_OK && i < n; i++) {
            check_message(&ms[i], g.t0.slot_size, g.t0.max_attempts, "drain poll");
            if (ms[i].id >= ID_CAP) fail("drain: id %" PRIu64 " out of range", ms[i].id);
            ringmq_status as = ringmq_sub_ack(g.audit, ms[i].delivery_tag);
            if (as == RINGMQ_OK)
                atomic_fetch_add(&g.acked_pull[ms[i].id], 1);
            else if (!(g.expiry && as == RINGMQ_INVALID_ARGUMENT))
                fail("drain: ringmq_sub_ack of a fresh delivery answered %s", sn(as));
        }
        read_dlq(1, false);
        get_sub_stats(g.audit, &a, "audit");
        get_sub_stats(g.pushaudit, &p, "pushaudit");
        get_sub_stats(g.dlqreader, &d, "dlqreader");
        uint64_t seen_pull = distinct_seen(g.acked_pull, g.dlq_pull);
        uint64_t seen_push = distinct_seen(g.acked_push, g.dlq_push);
        bool done = seen_pull == published && seen_push == published && a.in_flight == 0 &&
                    a.lag == 0 && a.waiting_retry == 0 && p.in_flight == 0 && p.lag == 0 &&
                    p.waiting_retry == 0 && d.in_flight == 0 && d.lag == 0;
        if (done) {
            if (stable_since == 0) stable_since = now_ms();
            if (now_ms() - stable_since > 60) break; /* late duplicates show up too */
        } else {
            stable_since = 0;
        }
        if (now_ms() > deadline)
            fail("drain did not finish in 30 s: published %" PRIu64 "; audit settled %" PRIu64
                 " (in_flight %" PRIu64 ", lag %" PRIu64 ", waiting_retry %" PRIu64
                 "); pushaudit settled %" PRIu64 " (in_flight %" PRIu64 ", lag %" PRIu64
                 ", waiting_retry %" PRIu64 "); dlq lag %" PRIu64 " in_flight %" PRIu64,
                 published, seen_pull, a.in_flight, a.lag, a.waiting_retry, seen_push,
                 p.in_flight, p.lag, p.waiting_retry, d.lag, d.in_flight);
    }
    /* exactly once per group, over acks and dead letters */
    uint64_t unknown_pull = 0, unknown_push = 0;
    for (uint32_t id = 0; id < ID_CAP; id++) {
        unsigned known = atomic_load(&g.published_known[id]);
        unsigned ap = atomic_load(&g.acked_pull[id]), dp = atomic_load(&g.dlq_pull[id]);
        unsigned ah = atomic_load(&g.acked_push[id]), dh = atomic_load(&g.dlq_push[id]);
        if (known ? ap + dp != 1 : ap + dp > 1)
            fail("audit (pull): id %u published %u, acked %u times, dead-lettered %u times", id,
                 known, ap, dp);
        bool overran = atomic_load(&g.overran_push[id]);
        if (overran && ah + dh > 1) ah = 1, dh = 0; /* handled again after its deadline */
        if (known ? ah + dh != 1 : ah + dh > 1)
            fail("pushaudit (push): id %u published %u, acked %u times, dead-lettered %u times",
                 id, known, ah, dh);
        if (!known) {
            unknown_pull += ap + dp;
            unknown_push += ah + dh;
        }
    }
    uint64_t unknown = atomic_load(&g.published_unknown);
    if (unknown_pull != unknown || unknown_push != unknown)
        fail("published without an id: %" PRIu64 "; settled ids not known published: pull %" PRIu64
             ", push %" PRIu64,
             unknown, unknown_pull, unknown_push);
    /* counters at a quiescent point */
    get_sub_stats(g.audit, &a, "audit");
    check_sub_sum("audit", &a);
    if (a.acked + a.dead_lettered != published)
        fail("audit: acked %" PRIu64 " + dead_lettered %" PRIu64 " != published %" PRIu64, a.acked,
             a.dead_lettered, published);
    get_sub_stats(g.pushaudit, &p, "pushaudit");
    check_sub_sum("pushaudit", &p);
    if (p.acked + p.dead_lettered != published)
        fail("pushaudit: acked %" PRIu64 " + dead_lettered %" PRIu64 " != published %" PRIu64,
             p.acked, p.dead_lettered, published);
    get_sub_stats(g.dlqreader, &d, "dlqreader");
    check_sub_sum("dlqreader", &d);
    for (int i = 0; i < CHURN_SLOTS; i++) {
        churn_slot *cs = &g.churn[i];
        if (cs->sub == NULL || cs->ctx != NULL) continue; /* pull only: push ones still run */
        ringmq_sub_stats c;
        get_sub_stats(cs->sub, &c, "churn");
        check_sub_sum("a churned pull subscription", &c);
    }
    if (g_verbose)
        fprintf(stderr, "  drained: %" PRIu64 " published; audit acked %" PRIu64 " dead %" PRIu64
                        "; pushaudit acked %" PRIu64 " dead %" PRIu64 "\n",
                published, a.acked, a.dead_lettered, p.acked, p.dead_lettered);
}

/* ---- one run ------------------------------------------------------------ */

static void make_topic(rng_t *r, topic_info *ti, const char *name, bool tracked) {
    ringmq_topic_options o;
    ringmq_topic_options_default(&o);
    o.capacity = (size_t)4 << below(r, 5); /* 4..64 */
    o.slot_size = 1 + below(r, 48);
    o.overflow = tracked ? (ringmq_overflow)below(r, 2) : (ringmq_overflow)below(r, 3);
    o.max_attempts = 1 + below(r, 4);
    o.backoff_base_ms = 1 + below(r, 2);
    o.backoff_max_ms = o.backoff_base_ms + below(r, 8);
    o.ack_timeout_ms = 30000;
    if (chance(r, 500)) o.ack_timeout_ms = 30 + below(r, 200);
    if (tracked) g.expiry = o.ack_timeout_ms < 30000;
    o.retry_capacity = chance(r, 500) ? 0 : 1 + below(r, (uint32_t)o.capacity);
    ringmq_status st = ringmq_topic_create(g.b, name, &o, &ti->t);
    if (st != RINGMQ_OK) fail("ringmq_topic_create(%s) answered %s", name, sn(st));
    ti->slot_size = o.slot_size;
    ti->capacity = o.capacity;
    ti->overflow = o.overflow;
    ti->max_attempts = o.max_attempts;
    ti->ack_timeout_ms = o.ack_timeout_ms;
    ti->name = name;
    if (g_verbose)
        fprintf(stderr, "  topic %s: capacity %zu slot_size %zu overflow %d max_attempts %u "
                        "backoff %" PRIu64 "..%" PRIu64 " ack_timeout %" PRIu64 " retry_capacity %zu\n",
                name, o.capacity, o.slot_size, (int)o.overflow, o.max_attempts, o.backoff_base_ms,
                o.backoff_max_ms, o.ack_timeout_ms, o.retry_capacity);
}

static void run_seed(unsigned long long seed) {
    g_seed = seed;
    atomic_store(&g_phase, PH_SETUP);
    arm_watchdog(g_watchdog_s);
    printf("fuzz seed %llu\n", seed);
    fflush(stdout);

    /* reset the world */
    push_ctx *old = g.ctxs;
    memset(&g, 0, sizeof g);
    (void)old;
    pthread_mutex_init(&g.ctx_lock, NULL);
    for (int i = 0; i < CHURN_SLOTS; i++) pthread_mutex_init(&g.churn[i].lock, NULL);
    for (int i = 0; i < TOPIC_SLOTS; i++) pthread_mutex_init(&g.tslots[i].lock, NULL);

    rng_t r = {seed * 0x2545F4914F6CDD1Dull + 1};
    int threads_before = count_threads();

    ringmq_broker_options bo;
    ringmq_broker_options_default(&bo);
    bo.workers_min = 1 + below(&r, 2);
    bo.workers_max = bo.workers_min + below(&r, 3);
    bo.idle_timeout_ms = 5 + below(&r, 100);
    g.workers_max = bo.workers_max;
    if (ringmq_broker_new(&bo, &g.b) != RINGMQ_OK) fail("ringmq_broker_new: %s", ringmq_last_error());
    make_topic(&r, &g.t0, "t0", true);
    make_topic(&r, &g.t1, "t1", false);
    g.nthreads = 2 + (int)below(&r, 3);
    g.hold_max = 1 + (int)below(&r, 6);

    ringmq_sub_options o;
    ringmq_sub_options_default(&o);
    if (ringmq_topic_subscribe_pull(g.t0.t, "audit", &o, &g.audit) != RINGMQ_OK) fail("subscribe audit");
    o.concurrency = 1 + below(&r, 3);
    o.ordered_by_key = chance(&r, 500);
    g.pushaudit_ctx = new_ctx(1, o.ordered_by_key, o.concurrency, 0, g.t0.slot_size,
                              g.t0.max_attempts, 50 + below(&r, 400));
    if (ringmq_topic_subscribe(g.t0.t, "pushaudit", on_push, g.pushaudit_ctx, &o, &g.pushaudit) != RINGMQ_OK)
        fail("subscribe pushaudit");
    ringmq_topic *dlq = NULL;
    if (ringmq_topic_open(g.b, "t0.dlq", &dlq) != RINGMQ_OK) fail("open t0.dlq");
    ringmq_sub_options_default(&o);
    if (ringmq_topic_subscribe_pull(dlq, "dlqreader", &o, &g.dlqreader) != RINGMQ_OK) fail("subscribe dlq");
    ringmq_topic_release(dlq); /* the subscription outlives the handle */
    if (g_verbose)
        fprintf(stderr, "  hold at most %d; %d threads, workers %u..%u idle %" PRIu64 " ms, pushaudit concurrency %u "
                        "ordered %d fail %u/1000, expiry %d\n",
                g.hold_max, g.nthreads, bo.workers_min, bo.workers_max, bo.idle_timeout_ms,
                g.pushaudit_ctx->concurrency, g.pushaudit_ctx->ordered,
                g.pushaudit_ctx->fail_permille, (int)g.expiry);

    /* 1. chaos */
    atomic_store(&g_phase, PH_CHAOS);
    worker ws[MAX_THREADS];
    memset(ws, 0, sizeof ws);
    uint64_t chaos_ms = 200 + below(&r, 500);
    uint64_t start = now_ms();
    for (int i = 0; i < g.nthreads; i++) {
        ws[i].ix = i;
        ws[i].r.s = rnd(&r);
        ws[i].stop_at = start + chaos_ms;
    }
    run_threads(ws, g.nthreads);
    for (int i = 0; i < g.nthreads; i++) g.chaos_ops += ws[i].ops;

    /* 2. drain and check */
    drain_and_check();

    /* 3. close while the others keep calling */
    atomic_store(&g_phase, PH_CLOSE);
    start = now_ms();
    int closer = (int)below(&r, (uint32_t)g.nthreads);
    int second_closer = chance(&r, 300) ? (int)below(&r, (uint32_t)g.nthreads) : -1;
    for (int i = 0; i < g.nthreads; i++) {
        ws[i].r.s = rnd(&r);
        ws[i].closer = i == closer || i == second_closer;
        ws[i].close_at = start + 10 + below(&r, 150);
        ws[i].stop_at = start + 250 + below(&r, 200);
    }
    run_threads(ws, g.nthreads);
    if (!atomic_load(&g.closed_outside)) try_close(0, "the main thread", false);

    /* 4. tear down: unsubscribe what is left (after close: CLOSED) */
    atomic_store(&g_phase, PH_TEARDOWN);
    for (int i = 0; i < CHURN_SLOTS; i++)
        if (g.churn[i].sub) churn_unsubscribe(&g.churn[i]);
    for (push_ctx *c = g.ctxs; c; c = c->next) {
        ringmq_sub *s = atomic_exchange(&c->sub, NULL);
        if (s != NULL) {
            ringmq_status st = ringmq_sub_unsubscribe(s);
            if (st != RINGMQ_CLOSED)
                fail("ringmq_sub_unsubscribe after close answered %s, want closed", sn(st));
        }
    }
    ringmq_status st = ringmq_sub_unsubscribe(g.pushaudit);
    if (st != RINGMQ_CLOSED)
        fail("ringmq_sub_unsubscribe(pushaudit) after close answered %s, want closed", sn(st));
    st = ringmq_sub_unsubscribe(g.dlqreader);
    if (st != RINGMQ_CLOSED)
        fail("ringmq_sub_unsubscribe(dlqreader) after close answered %s, want closed", sn(st));
    for (int i = 0; i < TOPIC_SLOTS; i++) ringmq_topic_release(g.tslots[i].t);
    ringmq_topic_release(g.t1.t);
    ringmq_broker_free(g.b);
    /* handles outlive their broker: other calls answer CLOSED */
    ringmq_message m;
    st = ringmq_sub_poll(g.audit, 10, &m);
    if (st != RINGMQ_CLOSED) fail("ringmq_sub_poll after ringmq_broker_free answered %s", sn(st));
    st = ringmq_topic_publish(g.t0.t, NULL, 0, 0, 10, NULL);
    if (st != RINGMQ_CLOSED) fail("ringmq_topic_publish after ringmq_broker_free answered %s", sn(st));
    st = ringmq_sub_unsubscribe(g.audit);
    if (st != RINGMQ_CLOSED)
        fail("ringmq_sub_unsubscribe(audit) after ringmq_broker_free answered %s", sn(st));
    ringmq_topic_release(g.t0.t);

    sleep_ms(10); /* a handler running now would report itself */
    int threads_after = count_threads();
    if (threads_after != threads_before)
        fail("%d threads before ringmq_broker_new, %d after ringmq_broker_free", threads_before,
             threads_after);

    uint64_t ops = 0;
    for (int i = 0; i < g.nthreads; i++) ops += ws[i].ops;
    unsigned long long calls = 0;
    while (g.ctxs) {
        push_ctx *c = g.ctxs;
        g.ctxs = c->next;
        calls += atomic_load(&c->calls);
        free(c);
    }
    alarm(0);
    printf("fuzz seed %llu ok: %d threads, %" PRIu64 " ops (%" PRIu64 " before close), %" PRIu64 " tracked messages (%" PRIu64
           " publishes met a full ring), %llu handler calls%s%s\n",
           seed, g.nthreads, ops, (uint64_t)g.chaos_ops, (uint64_t)atomic_load(&g.published_total),
           (uint64_t)atomic_load(&g.t0_refused), calls, atomic_load(&g.forked) ? ", forked" : "",
           atomic_load(&g.handler_closed) ? ", closed from a handler" : "");
    fflush(stdout);
}

int main(int argc, char **argv) {
    unsigned long long seed = 0, count = 1;
    bool have_seed = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
            count = strtoull(argv[++i], NULL, 0);
        } else if (argv[i][0] >= '0' && argv[i][0] <= '9') {
            seed = strtoull(argv[i], NULL, 0);
            have_seed = true;
        } else {
            fprintf(stderr, "usage: %s [SEED] [--count N]\n", argv[0]);
            return 2;
        }
    }
    const char *env = getenv("RINGMQ_FUZZ_SEED");
    if (!have_seed && env != NULL && *env != '\0') {
        seed = strtoull(env, NULL, 0);
        have_seed = true;
    }
    if (!have_seed) seed = (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 16);
    const char *wd = getenv("RINGMQ_FUZZ_WATCHDOG_S");
    if (wd != NULL && atoi(wd) > 0) g_watchdog_s = (unsigned)atoi(wd);
    g_verbose = env_flag("RINGMQ_FUZZ_VERBOSE");
    skip.fork = env_flag("RINGMQ_FUZZ_SKIP_FORK");
    printf("fuzz: seeds %llu..%llu; skipping:%s%s\n", seed, seed + count - 1,
           skip.fork ? " fork" : "", skip.fork ? "" : " nothing");
    for (unsigned long long i = 0; i < count; i++) run_seed(seed + i);
    return 0;
}
