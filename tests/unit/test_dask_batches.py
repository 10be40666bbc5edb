"""Which ready chains share a Dask task (runner/dask_batches)."""
from nb2pipe.runner.dask_batches import TASK_WORK_S, ReadyPool, group


def test_nothing_known_yet_each_chain_is_its_own_task():
    chains = [[f"s{i}"] for i in range(10)]
    assert group(chains, est=None, slots=2) == [[c] for c in chains]


def test_short_steps_share_tasks_and_each_worker_thread_gets_two_at_least():
    chains = [[f"s{i}"] for i in range(40)]
    tasks = group(chains, est=0.002, slots=2)
    assert [s for t in tasks for c in t for s in c] == [f"s{i}" for i in range(40)]   # all, in order
    assert len(tasks) == 4 and {len(t) for t in tasks} == {10}
    assert len(group(chains[:3], est=0.002, slots=2)) == 3        # fewer chains than 2 per thread


def test_long_steps_stay_alone():
    chains = [[f"s{i}"] for i in range(40)]
    assert group(chains, est=TASK_WORK_S, slots=2) == [[c] for c in chains]
    tasks = group(chains, est=TASK_WORK_S / 4, slots=2)            # four steps' expected work a task
    assert {sum(map(len, t)) for t in tasks} == {4}


def test_chains_are_kept_whole_and_count_by_their_steps():
    chains = [["a1", "a2", "a3"], ["b1", "b2", "b3"], ["c1"], ["d1"]]
    tasks = group(chains, est=TASK_WORK_S / 4, slots=1)            # at most 4 steps of work a task
    assert tasks == [[["a1", "a2", "a3"]], [["b1", "b2", "b3"], ["c1"]], [["d1"]]]


def test_the_pool_sends_one_chain_a_task_until_two_steps_per_thread_ended():
    pool = ReadyPool(slots=2)
    for i in range(20):
        pool.add([f"s{i}"])
    pool.ended(0.001)                                   # the root: says nothing of its children
    sent = [pool.take(running=r) for r in range(4)]
    assert sent == [["s0"], ["s1"], ["s2"], ["s3"]]
    assert pool.take(running=4) is None                 # two tasks per thread out: wait
    for _ in range(3):
        pool.ended(0.002)
    assert pool.take(running=3) == [f"s{i}" for i in range(4, 8)]     # 16 left, a quarter of them
    assert pool.take(running=3, alone=True) == ["s8"]   # e.g. the run's time is up
    while pool:
        pool.take(running=0)
    assert pool.take(running=0) is None


def test_the_pool_keeps_slow_steps_alone():
    pool = ReadyPool(slots=1)
    for i in range(6):
        pool.add([f"s{i}"])
        pool.ended(1.0)
    assert [pool.take(running=0) for _ in range(6)] == [[f"s{i}"] for i in range(6)]
