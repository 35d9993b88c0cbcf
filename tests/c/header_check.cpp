// Compiles the C header as C++ (-Wall -Wextra -Werror -pedantic) and links
// against the library through its extern "C" declarations.
#include "ringmq.h"

#include <cstdio>
#include <cstring>

namespace {

extern "C" int32_t count_handler(const ringmq_message *m, void *user_data) {
    *static_cast<int *>(user_data) += static_cast<int>(m->len);
    return 0;
}

}  // namespace

int main() {
    ringmq_topic_options o;
    ringmq_topic_options_default(&o);
    o.overflow = RINGMQ_OVERFLOW_REJECT;
    ringmq_sub_options so;
    ringmq_sub_options_default(&so);
    so.start = RINGMQ_START_EARLIEST;
    ringmq_handler h = count_handler;
    (void)h;
    // The _default macros pass this header's sizeof; NULL does nothing.
    if (o.struct_size != sizeof o || so.struct_size != sizeof so) return 1;
    ringmq_publish_options_default(nullptr);
    if (std::strcmp(ringmq_version(), RINGMQ_VERSION_STRING) != 0) return 1;

    ringmq_broker *b = nullptr;
    if (ringmq_broker_new(nullptr, &b) != RINGMQ_OK) return 1;
    ringmq_topic *t = nullptr;
    ringmq_status st = ringmq_topic_create(b, "cpp", &o, &t);
    if (st != RINGMQ_OK) {
        std::printf("%s: %s\n", ringmq_status_str(st), ringmq_last_error());
        return 1;
    }
    ringmq_sub *s = nullptr;
    if (ringmq_topic_subscribe_pull(t, "g", &so, &s) != RINGMQ_OK) return 1;
    const char text[] = "from C++";
    if (ringmq_topic_publish(t, text, sizeof text - 1, 0, -1, nullptr) != RINGMQ_OK) return 1;
    ringmq_message m;
    if (ringmq_sub_poll(s, 1000, &m) != RINGMQ_OK) return 1;
    bool same = m.len == sizeof text - 1 && std::memcmp(m.data, text, m.len) == 0;
    // A stable alias (the DESIGN/1.0 name) is the same call.
    if (ringmq_ack(s, m.delivery_tag) != RINGMQ_OK) return 1;
    ringmq_sub_unsubscribe(s);
    ringmq_topic_release(t);
    ringmq_broker_free(b);
    std::printf("C++ header check: %s (library %s)\n", same ? "ok" : "MISMATCH", ringmq_version());
    return same ? 0 : 1;
}
