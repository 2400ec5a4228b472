"""The CI lanes' split of the suite (CRM_TEST_SHARD): every module in exactly one share, and
the shares' measured seconds close, so the lanes end together."""

from tests.conftest import shard_assignment


def loads(assignment, seconds, shares):
    totals = [0.0] * shares
    for module, share in assignment.items():
        totals[share] += seconds[module]
    return totals


def test_every_module_lands_in_exactly_one_share():
    modules = [f"tests/test_{index}.py" for index in range(40)]
    seconds = {module: float(index % 7 + 1) for index, module in enumerate(modules)}
    assignment = shard_assignment(modules, seconds, [1.0, 1.0])
    assert set(assignment) == set(modules)
    assert set(assignment.values()) == {0, 1}


def test_shares_differ_by_less_than_the_longest_module():
    modules = ["tests/a.py", "tests/b.py", "tests/c.py", "tests/d.py", "tests/e.py"]
    seconds = dict(zip(modules, [300.0, 200.0, 150.0, 100.0, 50.0], strict=True))
    first, second = loads(shard_assignment(modules, seconds, [1.0, 1.0]), seconds, 2)
    # round robin in this order would give 500 vs 300
    assert abs(first - second) <= 100


def test_unequal_sizes_give_the_larger_share_more_work():
    modules = [f"tests/test_{index}.py" for index in range(30)]
    seconds = dict.fromkeys(modules, 10.0)
    first, second = loads(shard_assignment(modules, seconds, [1.0, 2.0]), seconds, 2)
    assert second == 2 * first


def test_a_module_not_measured_yet_counts_as_the_median_one():
    modules = ["tests/new.py", "tests/a.py", "tests/b.py", "tests/c.py"]
    seconds = {"tests/a.py": 1.0, "tests/b.py": 5.0, "tests/c.py": 100.0}
    assignment = shard_assignment(modules, seconds, [1.0, 1.0])
    # c alone in one share; a, b and the new module (counted as 5 s) in the other
    assert assignment["tests/new.py"] == assignment["tests/a.py"] == assignment["tests/b.py"]
    assert assignment["tests/c.py"] != assignment["tests/new.py"]
