#include <ringmq.h>
#include <stdio.h>

int main(void) {
    ringmq_broker *mq; ringmq_topic *orders; ringmq_sub *audit; ringmq_message m;
    if (ringmq_broker_new(NULL, &mq) != RINGMQ_OK ||
        ringmq_topic_create(mq, "orders", NULL, &orders) != RINGMQ_OK ||
        ringmq_topic_subscribe_pull(orders, "audit", NULL, &audit) != RINGMQ_OK ||
        ringmq_topic_publish(orders, "hello", 5, /*key*/ 7, /*timeout_ms*/ -1, NULL) != RINGMQ_OK ||
        ringmq_sub_poll(audit, 1000, &m) != RINGMQ_OK) {
        fprintf(stderr, "ringmq: %s\n", ringmq_last_error());
        return 1;
    }
    printf("got #%llu: %.*s\n", (unsigned long long)m.id, (int)m.len, (const char *)m.data);
    ringmq_sub_ack(audit, m.delivery_tag);       /* m.data is valid until here */
    ringmq_sub_unsubscribe(audit); ringmq_topic_release(orders); ringmq_broker_free(mq);
    return 0;
}
