/* Context of docs/C.md's ringmq_topic_publish_ex: the application's `orders`,
 * `customer_id` and `body`. Checks the publish and its headers. */
#include <ringmq.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    ringmq_broker *mq; ringmq_topic *orders; ringmq_sub *audit; ringmq_message m;
    if (ringmq_broker_new(NULL, &mq) != RINGMQ_OK ||
        ringmq_topic_create(mq, "orders", NULL, &orders) != RINGMQ_OK ||
        ringmq_subscribe_pull(orders, "audit", NULL, &audit) != RINGMQ_OK) return 1;
    uint64_t customer_id = 42;
    const char *body = "{\"order\": 42}";
    size_t body_len = strlen(body);
    /* BLOCK */
    if (st != RINGMQ_OK || ringmq_poll(audit, 1000, &m) != RINGMQ_OK) return 1;
    printf("#%llu with %u headers, key %llu\n", (unsigned long long)id, m.header_count,
           (unsigned long long)m.key);
    if (m.header_count != 2 || m.msg_id_len != 8 || m.key != 42) return 1;
    ringmq_ack(audit, m.delivery_tag);
    ringmq_unsubscribe(audit); ringmq_topic_release(orders); ringmq_broker_free(mq);
    return 0;
}
