/* Context of docs/C.md's error callback: the application's `log_warn` and
 * `logger`, a broker `mq` with a push subscription that fails once. */
#include <ringmq.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct logger { atomic_int warnings; };
static void log_warn(void *user_data, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    atomic_fetch_add(&((struct logger *)user_data)->warnings, 1);
}
static int32_t fail_first(const ringmq_message *m, void *user_data) {
    (void)user_data;
    return m->attempt == 1 ? 3 : 0;
}

/* DEFINITIONS */

int main(void) {
    struct logger log = {0}, *logger = &log;
    ringmq_broker *mq; ringmq_topic *t; ringmq_sub *s;
    if (ringmq_broker_new(NULL, &mq) != RINGMQ_OK) return 1;
    /* BLOCK */
    if (ringmq_topic_create(mq, "orders", NULL, &t) != RINGMQ_OK ||
        ringmq_subscribe(t, "billing", fail_first, NULL, NULL, &s) != RINGMQ_OK ||
        ringmq_publish(t, "order 1", 7, 0, -1, NULL) != RINGMQ_OK) return 1;
    ringmq_broker_close(mq, 5000);
    ringmq_unsubscribe(s); ringmq_topic_release(t); ringmq_broker_free(mq);
    return atomic_load(&log.warnings) == 1 ? 0 : 1;
}
