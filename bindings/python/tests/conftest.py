import signal

import pytest

import ringmq

# The Ctrl-C tests need Python's own SIGINT handler. A shell that starts a
# job in the background (`cmd &` without job control, nohup) starts it with
# SIGINT ignored, and Python then keeps it ignored: KeyboardInterrupt never
# comes. Installing the handler here also un-ignores it for the
# interpreters the tests start (a handler, unlike SIG_IGN, is not
# inherited across exec).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def mq():
    broker = ringmq.Broker(workers_min=1, workers_max=4)
    yield broker
    broker.close(drain=0)
