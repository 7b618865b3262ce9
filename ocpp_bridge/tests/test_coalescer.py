"""Group commit: items waiting together are applied together; failures stay local."""

import asyncio

from ocpp_bridge.coalescer import Coalescer


def test_items_arriving_while_a_batch_is_written_form_the_next_batch(monkeypatch):
    batches = []

    def apply_many(items):
        batches.append(list(items))
        return [item * 10 for item in items]

    async def scenario():
        coalescer = Coalescer(apply_many, writers=1)
        return await asyncio.gather(*(coalescer.submit(i) for i in range(5)))

    assert asyncio.run(scenario()) == [0, 10, 20, 30, 40]
    assert sorted(x for batch in batches for x in batch) == [0, 1, 2, 3, 4]
    assert len(batches) < 5  # grouped, not one by one


def test_one_failing_item_does_not_fail_its_neighbours():
    def apply_many(items):
        if 3 in items:
            raise ValueError("bad item")
        return list(items)

    async def scenario():
        coalescer = Coalescer(apply_many, writers=1)
        return await asyncio.gather(
            *(coalescer.submit(i) for i in range(5)), return_exceptions=True
        )

    results = asyncio.run(scenario())
    assert [r for r in results if not isinstance(r, Exception)] == [0, 1, 2, 4]
    assert isinstance(results[3], RuntimeError)
