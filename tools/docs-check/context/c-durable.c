/* Context of docs/C.md's durable topic: `data_dir`, a temporary directory
 * here (removed at the end). Checks the topic is recovered by a new broker
 * on the same directory. */
#define _POSIX_C_SOURCE 200809L
#include <ringmq.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    char data_dir[] = "ringmq-doc-XXXXXX";   /* in the working directory */
    if (!mkdtemp(data_dir)) return 1;
    /* BLOCK */
    if (t == NULL || ringmq_publish(t, "reading 1", 9, 0, -1, NULL) != RINGMQ_OK) return 1;
    ringmq_topic_release(t);
    ringmq_broker_free(b);
    if (ringmq_broker_new(&bo, &b) != RINGMQ_OK || ringmq_topic_open(b, "readings", &t) != RINGMQ_OK)
        return 1;
    ringmq_topic_stats ts;
    if (ringmq_topic_get_stats(t, &ts) != RINGMQ_OK || ts.log_bytes == 0) return 1;
    printf("recovered readings: %llu log bytes\n", (unsigned long long)ts.log_bytes);
    ringmq_topic_release(t);
    ringmq_broker_free(b);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", data_dir);
    return system(cmd) == 0 ? 0 : 1;
}
