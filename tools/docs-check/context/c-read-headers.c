/* Context of docs/C.md's header reading: a message `m` polled with two
 * headers, and the application's `continue_trace`. */
#include <ringmq.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int traced;
static void continue_trace(const uint8_t *tp, size_t len) {
    printf("trace %.*s\n", (int)len, (const char *)tp);
    traced = 1;
}

int main(void) {
    ringmq_broker *mq; ringmq_topic *orders; ringmq_sub *audit; ringmq_message m;
    static const char trace[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    ringmq_header hs[] = {
        {"tenant", 6, (const uint8_t *)"acme", 4},
        {"traceparent", 11, (const uint8_t *)trace, sizeof trace - 1},
    };
    ringmq_publish_options po;
    ringmq_publish_options_default(&po);
    po.headers = hs;
    po.header_count = 2;
    if (ringmq_broker_new(NULL, &mq) != RINGMQ_OK ||
        ringmq_topic_create(mq, "orders", NULL, &orders) != RINGMQ_OK ||
        ringmq_subscribe_pull(orders, "audit", NULL, &audit) != RINGMQ_OK ||
        ringmq_topic_publish_ex(orders, "x", 1, &po, NULL) != RINGMQ_OK ||
        ringmq_poll(audit, 1000, &m) != RINGMQ_OK) return 1;
    /* BLOCK */
    ringmq_ack(audit, m.delivery_tag);
    ringmq_unsubscribe(audit); ringmq_topic_release(orders); ringmq_broker_free(mq);
    return traced ? 0 : 1;
}
