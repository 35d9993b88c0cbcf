// ESM entry: the same classes as the CommonJS entry (index.js).
import ringmq from './index.js'

export const { Broker, NatsBridge, Topic, Pull, Subscription, Message, PushMessage, RawBatch, RingMQError, Retry, Term, schema, version } = ringmq
export default ringmq
