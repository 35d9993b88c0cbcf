/* Context of docs/C.md's pause and why_idle: a pull subscription `s`
 * made as in the quick start. */
#include <ringmq.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    ringmq_broker *mq; ringmq_topic *orders; ringmq_sub *s; ringmq_message m;
    if (ringmq_broker_new(NULL, &mq) != RINGMQ_OK ||
        ringmq_topic_create(mq, "orders", NULL, &orders) != RINGMQ_OK ||
        ringmq_subscribe_pull(orders, "audit", NULL, &s) != RINGMQ_OK) return 1;
    /* BLOCK */
    if (ringmq_publish(orders, "hello", 5, 0, -1, NULL) != RINGMQ_OK ||
        ringmq_poll(s, 1000, &m) != RINGMQ_OK) return 1;   /* resumed: it arrives */
    ringmq_ack(s, m.delivery_tag);
    ringmq_unsubscribe(s); ringmq_topic_release(orders); ringmq_broker_free(mq);
    return 0;
}
