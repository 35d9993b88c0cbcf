/* Context of docs/C.md's push handler: the application's `store` and
 * `my_db`, the quick start's `orders` topic. Checks the handler acked. */
#define _POSIX_C_SOURCE 200809L
#include <ringmq.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

struct db { atomic_int rows; };
static bool store(void *db, const uint8_t *data, size_t len) {
    (void)data; (void)len;
    atomic_fetch_add(&((struct db *)db)->rows, 1);
    return true;
}

/* DEFINITIONS */

int main(void) {
    struct db db = {0}, *my_db = &db;
    ringmq_broker *mq; ringmq_topic *orders; ringmq_sub *billing;
    if (ringmq_broker_new(NULL, &mq) != RINGMQ_OK ||
        ringmq_topic_create(mq, "orders", NULL, &orders) != RINGMQ_OK) return 1;
    /* BLOCK */
    if (ringmq_publish(orders, "order 1", 7, 1, -1, NULL) != RINGMQ_OK) return 1;
    ringmq_broker_close(mq, 5000);
    printf("stored %d\n", atomic_load(&db.rows));
    ringmq_unsubscribe(billing); ringmq_topic_release(orders); ringmq_broker_free(mq);
    return atomic_load(&db.rows) == 1 ? 0 : 1;
}
