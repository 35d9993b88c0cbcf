"""The types tell the truth: every dict the module returns has exactly the
keys and value types of its TypedDict, the stub's private copies of the
stats dicts are the public ones, every buffer type the stub admits as a
payload works (and what it refuses is refused), `py.typed` ships, and mypy
reads the stubs as a user's program needs (run when mypy is installed, as
scripts/test-python.sh does)."""

import array
import ast
import ctypes
import importlib.resources
import mmap
import pathlib
import sys
import textwrap
import typing

import pytest

import ringmq
from ringmq import _ringmq, _types
from ringmq.nats import Bridge

STUB = pathlib.Path(_ringmq.__file__).with_name("_ringmq.pyi")
TYPES = pathlib.Path(_types.__file__)


def matches(value, hint):
    """Whether value is of the annotated type (ints are not bools)."""
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        return any(matches(value, h) for h in typing.get_args(hint))
    if origin is list:
        (item,) = typing.get_args(hint)
        return type(value) is list and all(matches(v, item) for v in value)
    if origin is tuple:
        items = typing.get_args(hint)
        return (type(value) is tuple and len(value) == len(items)
                and all(matches(v, h) for v, h in zip(value, items)))
    if hint is type(None):
        return value is None
    return type(value) is hint


def check(what, value, typed_dict):
    hints = typing.get_type_hints(typed_dict)
    assert type(value) is dict, what
    assert list(value) == list(hints), f"{what}: keys differ from {typed_dict.__name__}"
    for key, hint in hints.items():
        assert matches(value[key], hint), f"{what}[{key!r}] = {value[key]!r} is not {hint}"


def test_every_returned_dict_is_its_typed_dict(mq):
    t = mq.create_topic("orders", capacity=8)
    pull = t.pull("audit")
    push = t.subscribe("billing", lambda m: None)
    t.publish(b"x")
    check("Topic.stats()", t.stats(), ringmq.TopicStats)
    check("PullSubscription.stats()", pull.stats(), ringmq.SubStats)
    check("PushSubscription.stats()", push.stats(), ringmq.SubStats)
    for group, s in t.subscription_stats().items():
        check(f"Topic.subscription_stats()[{group!r}]", s, ringmq.SubStats)
    check("Broker.pool_stats()", mq.pool_stats(), ringmq.PoolStats)
    # A nack leaves a last_error (the Optional[str] when it is a str).
    msg = pull.poll(timeout=1.0)
    assert msg is not None
    msg.nack(delay=60, reason="later")
    check("PullSubscription.stats() after a nack", pull.stats(), ringmq.SubStats)
    assert pull.stats()["last_error"] == "later"


def test_the_close_report_is_a_close_report():
    mq = ringmq.Broker()
    t = mq.create_topic("orders")
    t.pull("audit")
    t.publish(b"left behind")
    report = mq.close(drain=0)
    check("Broker.close()", report, ringmq.CloseReport)
    assert report["left"] == [("orders", "audit", 1)]
    check("Broker.close() again", mq.close(), ringmq.CloseReport)


def test_the_bridge_stats_are_bridge_stats(mq):
    mq.create_topic("orders")
    export: ringmq.nats.Export = {"topic": "orders", "group": "nats", "subject": "orders.created"}
    with Bridge(mq, id="t", servers="nats://127.0.0.1:1", exports=[export],
                reconnect_min=0.01, reconnect_max=0.05) as bridge:
        check("Bridge.stats()", bridge.stats(), ringmq.nats.BridgeStats)
    check("Bridge.stop()", bridge.stop(), ringmq.nats.BridgeStats)


def test_the_bridge_configuration_types_are_the_bridges():
    # The run-time check (serde, deny_unknown_fields) and the TypedDicts
    # agree on the keys.
    assert set(typing.get_type_hints(ringmq.nats.Export)) == {
        "topic", "group", "subject", "stream", "max_in_flight"}
    assert ringmq.nats.Export.__required_keys__ == {"topic", "group", "subject"}
    assert set(typing.get_type_hints(ringmq.nats.Import)) == {
        "stream", "consumer", "topic", "group", "filter_subject", "batch"}
    assert ringmq.nats.Import.__required_keys__ == {"stream", "consumer", "topic", "group"}


def classes(path):
    """Class name -> [(field, annotation as written)] of a file."""
    out = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ClassDef):
            out[node.name] = [(n.target.id, ast.unparse(n.annotation)) for n in node.body
                              if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)]
    return out


def test_the_stubs_stats_dicts_are_the_public_ones():
    stub, public = classes(STUB), classes(TYPES)
    for name in ("TopicStats", "SubStats", "PoolStats"):
        assert stub[f"_{name}"] == public[name], (
            f"_ringmq.pyi _{name} and _types.py {name} differ: run `cargo run -p gen-surface`")


def stub_method(cls, name):
    for node in ast.parse(STUB.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for n in node.body:
                if isinstance(n, ast.FunctionDef) and n.name == name:
                    return n
    raise AssertionError(f"_ringmq.pyi has no {cls}.{name}")


def test_exit_never_swallows_and_says_so(mq):
    # A context manager whose __exit__ is typed `-> bool` may swallow the
    # block's exception, so mypy reports a missing return after a `with`
    # block that returns. These never swallow.
    for cls in ("Broker", "NatsBridge"):
        assert ast.unparse(stub_method(cls, "__exit__").returns) in ("None", "Literal[False]"), cls
    assert ast.unparse(stub_method("Broker", "close").returns) == "CloseReport"
    assert mq.__exit__(None, None, None) is False
    b = ringmq.Broker()
    with pytest.raises(KeyError):
        with b:
            raise KeyError("not swallowed")


def buffers():
    """Every kind of buffer the stub's `Buffer` admits, with its bytes."""
    m = mmap.mmap(-1, 5)
    m.write(b"mmap!")
    ints = array.array("i", [1, 2])
    return [
        (b"bytes", b"bytes"),
        (bytearray(b"bytearray"), b"bytearray"),
        (memoryview(b"memoryview"), b"memoryview"),
        (memoryview(b"s-t-r-i-d-e")[::2], b"stride"),
        (array.array("B", b"array"), b"array"),
        (ints, ints.tobytes()),
        (m, b"mmap!"),
        ((ctypes.c_char * 6).from_buffer_copy(b"ctypes"), b"ctypes"),
    ]


def test_every_buffer_type_is_a_payload(mq):
    t = mq.create_topic("buffers", capacity=64)
    pull = t.pull("p")
    cases = buffers()
    for data, _ in cases:
        t.publish(data)
    t.publish_many([data for data, _ in cases])
    t.publish(b"h", headers={"a": array.array("B", b"arr"), "m": memoryview(b"mv"), "s": "str"},
              msg_id=memoryview(b"id-1"))
    got = [m.data for m in pull.poll_batch(2 * len(cases) + 1, timeout=1.0)]
    expected = [want for _, want in cases]
    assert got[:-1] == expected + expected
    last = t.pull("q", start="earliest").poll_batch(100, timeout=1.0)[-1]
    assert last.headers == {"a": b"arr", "m": b"mv", "s": b"str"} and last.msg_id == b"id-1"


def test_every_buffer_type_is_packed_data(mq):
    t = mq.create_topic("packed-buffers", capacity=64)
    pull = t.pull("p")
    for data, want in buffers():
        t.publish_packed(data, [len(want)])
        batch = pull.poll_raw(8, timeout=1.0)
        assert batch.data == want, data
        batch.ack_all()


@pytest.mark.parametrize("bad", ["text", 7, [1, 2], None, object()])
def test_what_is_not_a_buffer_is_refused(mq, bad):
    t = mq.create_topic("refused")
    with pytest.raises(TypeError):
        t.publish(bad)


def test_py_typed_and_the_stub_ship():
    files = importlib.resources.files("ringmq")
    assert files.joinpath("py.typed").is_file()
    assert files.joinpath("_ringmq.pyi").is_file()


# --- what mypy makes of a user's program ---------------------------------

def mypy(tmp_path, source):
    mypy_api = pytest.importorskip("mypy.api", reason="mypy is not installed")
    prog = tmp_path / "prog.py"
    prog.write_text(textwrap.dedent(source), encoding="utf-8")
    out, err, _ = mypy_api.run([
        "--strict", "--no-error-summary", "--cache-dir", str(tmp_path / "cache"),
        "--python-executable", sys.executable, str(prog)])
    assert not err, err
    return out


def test_mypy_accepts_a_typed_program(tmp_path):
    out = mypy(tmp_path, """
        import array
        from typing import Dict, Optional
        import ringmq
        from ringmq.nats import Bridge, BridgeStats, Export

        def published() -> int:
            with ringmq.Broker() as mq:
                t = mq.create_topic("t")
                return t.publish(array.array("B", b"abc")) + t.publish(memoryview(b"x"))

        def lag(s: ringmq.SubStats) -> int:
            return s["lag"]

        def bridged(mq: ringmq.Broker) -> BridgeStats:
            export: Export = {"topic": "t", "group": "g", "subject": "s", "stream": None}
            with Bridge(mq, id="x", servers="nats://127.0.0.1:1", exports=[export]) as b:
                return b.stats()

        def packed(mq: ringmq.Broker) -> int:
            t = mq.create_topic("p")
            pull = t.pull("g")
            first: int = t.publish_packed(b"abc", [1, 2], key=3)
            first += t.publish_packed(bytearray(b"ab"), array.array("I", [2]), timeout=1.0)
            batch: ringmq.RawBatch = pull.poll_raw(8, timeout=0)
            payload: bytes = batch.payload(0)
            msg_id: Optional[bytes] = batch.msg_id(0)
            headers: Dict[str, bytes] = batch.headers(0)
            batch.nack(0, delay=0.5, reason="later")
            n: int = batch.ack_all() + pull.ack_all(batch)
            return first + n + batch.lengths[0] + batch.offsets[0] + len(payload) + len(batch)

        def closed() -> bool:
            mq = ringmq.Broker()
            stats: ringmq.TopicStats = mq.create_topic("t").stats()
            ratio: float = mq.pool_stats()["utilisation"]
            report: ringmq.CloseReport = mq.close()
            left: list[tuple[str, str, int]] = report["left"]
            return report["timed_out"] or stats["published"] > ratio or not left
        """)
    assert out == "", out


def test_mypy_accepts_a_typed_asyncio_program(tmp_path):
    out = mypy(tmp_path, """
        import asyncio
        from typing import List, Optional
        import ringmq

        async def main() -> ringmq.CloseReport:
            async with ringmq.Broker() as mq:
                t = mq.create_topic("t")
                pull = t.pull("p")

                async def handler(msg: ringmq.Message) -> None:
                    await asyncio.sleep(0)

                push: ringmq.PushSubscription = t.subscribe("g", handler, concurrency=4)
                one: int = await t.publish_async(b"x", key=1, timeout=1.0, headers={"h": "v"})
                many: List[int] = await t.publish_many_async([b"a", memoryview(b"b")])
                m: Optional[ringmq.Message] = await pull.poll_async(timeout=1.0)
                batch: List[ringmq.Message] = await pull.poll_batch_async(8, timeout=0)
                async for msg in pull:
                    msg.ack()
                    break
                async for msg in pull.aiter():
                    msg.ack()
                    break
                report: ringmq.CloseReport = await mq.aclose(drain=1.0)
                return report

        print(asyncio.run(main())["timed_out"])
        """)
    assert out == "", out


@pytest.mark.parametrize("line, error", [
    ('t.publish("text")', "arg-type"),
    ('t.publish_async("text")', "arg-type"),
    ('x: str = asyncio.run(t.publish_async(b"x"))', "assignment"),
    ('x: str = asyncio.run(mq.aclose())["timed_out"]', "assignment"),
    ('t.publish(12)', "arg-type"),
    ('t.publish_packed("text", [4])', "arg-type"),
    ('t.publish_packed(b"ab", ["1", "1"])', "list-item"),
    ('x: bytes = t.pull("g").poll_raw(1).payload("0")', "arg-type"),
    ('t.stats()["publishd"]', "typeddict-item"),
    ('x: str = t.stats()["published"]', "assignment"),
    ('x: str = mq.close()["left"][0][2]', "assignment"),
    ('x: int = mq.close()["timed_out"] + mq.pool_stats()["nope"]', "typeddict-item"),
    ('Bridge(mq, id="x", servers="s", exports=[{"topic": "t", "group": "g", "subjct": "s"}])',
     "typeddict-unknown-key"),
])
def test_mypy_refuses_what_fails(tmp_path, line, error):
    out = mypy(tmp_path, f"""
        import asyncio
        import ringmq
        from ringmq.nats import Bridge

        mq = ringmq.Broker()
        t = mq.create_topic("t")
        {line}
        """)
    assert f"[{error}]" in out, out
