"""The module, its stub and its signatures agree with the engine's
declarations (exported by the module as tables): a field, option or error
kind added to the engine and missing here fails one of these tests, which
names the stale layer."""

import ast
import inspect
import pathlib

import ringmq
from ringmq import _ringmq

STUB = pathlib.Path(_ringmq.__file__).with_name("_ringmq.pyi")


def stub_tree():
    return ast.parse(STUB.read_text(encoding="utf-8"))


def stub_class(name):
    for node in stub_tree().body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    raise AssertionError(f"_ringmq.pyi has no class {name}")


def typed_dict_keys(name):
    cls = stub_class(name)
    return tuple(
        n.target.id
        for n in cls.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    )


def stub_method(cls, name):
    for n in stub_class(cls).body:
        if isinstance(n, ast.FunctionDef) and n.name == name:
            return n
    raise AssertionError(f"_ringmq.pyi has no {cls}.{name}")


def stub_defaults(cls, method):
    """Parameter name -> default (a Python value) of a stub method."""
    f = stub_method(cls, method)
    args = f.args.args + f.args.kwonlyargs
    defaults = [None] * (len(f.args.args) - len(f.args.defaults)) + list(f.args.defaults)
    defaults += list(f.args.kw_defaults)
    return {a.arg: (ast.literal_eval(d) if d is not None else inspect.Parameter.empty)
            for a, d in zip(args, defaults)}


def test_stats_dicts_have_the_tables_keys(mq):
    t = mq.create_topic("s")
    sub = t.pull("g")
    for what, got, table, stub in [
        ("Topic.stats()", t.stats(), _ringmq.TOPIC_STATS_FIELDS, "_TopicStats"),
        ("PullSubscription.stats()", sub.stats(), _ringmq.SUB_STATS_FIELDS, "_SubStats"),
        ("Broker.pool_stats()", mq.pool_stats(), _ringmq.POOL_STATS_FIELDS, "_PoolStats"),
    ]:
        assert tuple(got) == table, f"{what} keys differ from the engine's table"
        assert typed_dict_keys(stub) == table, (
            f"_ringmq.pyi {stub} is stale: run `cargo run -p gen-surface`"
        )
    assert t.subscription_stats()["g"]["group"] == "g"
    assert isinstance(mq.pool_stats()["utilisation"], float)


def test_error_classes_follow_the_kinds():
    assert "FULL" in _ringmq.ERROR_CLASSES
    stub_classes = {n.name for n in stub_tree().body if isinstance(n, ast.ClassDef)}
    for code, cls in _ringmq.ERROR_CLASSES.items():
        assert issubclass(cls, ringmq.RingMQError), code
        assert getattr(ringmq, cls.__name__) is cls, f"ringmq does not export {cls.__name__}"
        assert cls.__name__ in ringmq.__all__, f"ringmq.__all__ lacks {cls.__name__}"
        assert cls.__name__ in stub_classes, f"_ringmq.pyi lacks class {cls.__name__}"
    assert issubclass(_ringmq.ERROR_CLASSES["TIMEOUT"], TimeoutError)
    assert issubclass(_ringmq.ERROR_CLASSES["INVALID_ARGUMENT"], ValueError)


def test_option_signatures_follow_the_tables():
    for table, cls, method, skip in [
        (_ringmq.TOPIC_OPTIONS, ringmq.Broker, "create_topic", {"self", "name"}),
        (_ringmq.SUB_OPTIONS, ringmq.Topic, "subscribe", {"self", "group", "handler"}),
    ]:
        runtime = inspect.signature(getattr(cls, method)).parameters
        names = [p for p in runtime if p not in skip]
        assert names == list(table), f"{cls.__name__}.{method} parameters differ from the engine's options"
        stub = stub_defaults(cls.__name__, method)
        for name, default in table.items():
            assert runtime[name].default == default, f"{cls.__name__}.{method} default of {name}"
            assert stub[name] == default, f"_ringmq.pyi {cls.__name__}.{method} default of {name}"
    broker = stub_defaults("Broker", "__new__")
    assert [p for p in broker if p != "cls"] == list(_ringmq.BROKER_OPTIONS)
    # pull takes the options that apply to pulling.
    pull = inspect.signature(ringmq.Topic.pull).parameters
    for name in ("lossy", "start", "max_in_flight_per_key", "rate_limit", "rate_burst",
                 "start_at_id", "start_at_time"):
        assert pull[name].default == _ringmq.SUB_OPTIONS[name]


def test_enum_spellings_are_the_engines(mq):
    def literal(alias):
        for node in stub_tree().body:
            if isinstance(node, ast.Assign) and node.targets[0].id == alias:
                return tuple(e.value for e in node.value.slice.elts)
        raise AssertionError(f"_ringmq.pyi has no {alias}")

    assert literal("_Overflow") == _ringmq.OVERFLOW_VALUES
    assert literal("_Start") == _ringmq.START_VALUES
    assert literal("_Expired") == _ringmq.EXPIRED_VALUES
    assert literal("_Fsync") == _ringmq.FSYNC_VALUES
    for i, overflow in enumerate(_ringmq.OVERFLOW_VALUES):
        assert mq.create_topic(f"o{i}", overflow=overflow).overflow == overflow
    t = mq.create_topic("starts")
    for start in _ringmq.START_VALUES:
        t.pull(f"p-{start}", start=start)
