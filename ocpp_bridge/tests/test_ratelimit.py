from ocpp_bridge.ratelimit import TokenBucket


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_burst_passes_then_frames_are_paced_to_the_rate():
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock)
    assert [bucket.reserve() for _ in range(3)] == [0, 0, 0]
    assert round(bucket.reserve(), 3) == 0.1


def test_tokens_refill_over_time_up_to_the_burst():
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=2, clock=clock)
    bucket.reserve(), bucket.reserve()
    clock.now = 100.0
    assert [bucket.reserve() for _ in range(2)] == [0, 0]
    assert bucket.reserve() > 0
