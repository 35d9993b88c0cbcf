/* Context of docs/C.md's ringmq_handler_ex: the application's `run_job`
 * and its outcomes, `ctx` and the `jobs` topic. A malformed job must end
 * in jobs.dlq; a busy one is retried and done. */
#define _POSIX_C_SOURCE 200809L
#include <ringmq.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

enum job_outcome { JOB_DONE, JOB_MALFORMED, JOB_BUSY, JOB_FAILED };
struct ctx { atomic_int busy_seen, done; };
static enum job_outcome run_job(void *user_data, const uint8_t *data, size_t len) {
    struct ctx *c = user_data;
    if (len == 3 && memcmp(data, "bad", 3) == 0) return JOB_MALFORMED;
    if (len == 4 && memcmp(data, "busy", 4) == 0 && atomic_fetch_add(&c->busy_seen, 1) == 0)
        return JOB_BUSY;
    atomic_fetch_add(&c->done, 1);
    return JOB_DONE;
}

/* DEFINITIONS */

int main(void) {
    struct ctx c = {0}, *ctx = &c;
    ringmq_broker *mq; ringmq_topic *jobs, *dlq; ringmq_sub *runners, *dead; ringmq_message m;
    if (ringmq_broker_new(NULL, &mq) != RINGMQ_OK ||
        ringmq_topic_create(mq, "jobs", NULL, &jobs) != RINGMQ_OK ||
        ringmq_topic_open(mq, "jobs.dlq", &dlq) != RINGMQ_OK ||
        ringmq_subscribe_pull(dlq, "dead", NULL, &dead) != RINGMQ_OK) return 1;
    /* BLOCK */
    if (ringmq_publish(jobs, "bad", 3, 0, -1, NULL) != RINGMQ_OK ||
        ringmq_publish(jobs, "busy", 4, 0, -1, NULL) != RINGMQ_OK ||
        ringmq_poll(dead, 5000, &m) != RINGMQ_OK) return 1;
    printf("dead letter %.*s: %s\n", (int)m.len, (const char *)m.data, m.dead_letter_reason);
    ringmq_ack(dead, m.delivery_tag);
    ringmq_broker_close(mq, 5000);
    printf("done %d\n", atomic_load(&c.done));
    ringmq_unsubscribe(runners); ringmq_unsubscribe(dead);
    ringmq_topic_release(dlq); ringmq_topic_release(jobs); ringmq_broker_free(mq);
    return atomic_load(&c.done) == 1 ? 0 : 1;
}
