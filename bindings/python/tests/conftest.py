import pytest

import ringmq


@pytest.fixture
def mq():
    broker = ringmq.Broker(workers_min=1, workers_max=4)
    yield broker
    broker.close(drain=0)
