"""precedence.next_turn: a long piece of work on the loop, turning between its slices, still
lets another thread take the interpreter lock (as grpc's does, to hand the loop a call)."""
import asyncio
import threading
import time

from hpcq import precedence

POSTS = 50
POST_EVERY = 0.003   # the thread waits without the lock, then needs it to post to the loop
WORK_SECONDS = 5.0   # the longest the work runs: a starved thread fails the test, not hangs it


def run_sliced_work_beside_a_posting_thread(turn) -> tuple[list[float], float]:
    """Slices of 0.5 ms of pure Python on the loop, `turn` awaited between them, until the
    thread has posted POSTS times (or WORK_SECONDS): how late each post came after the
    thread's wait ended, and how long it all took."""
    late: list[float] = []

    async def main() -> float:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()

        def poster() -> None:
            for _ in range(POSTS):
                due = time.perf_counter() + POST_EVERY
                time.sleep(POST_EVERY)
                loop.call_soon_threadsafe(lambda due=due: late.append(time.perf_counter() - due))
            loop.call_soon_threadsafe(done.set)
        thread = threading.Thread(target=poster, daemon=True)
        started = time.perf_counter()
        thread.start()
        while not done.is_set() and time.perf_counter() - started < WORK_SECONDS:
            slice_ends = time.perf_counter() + 0.0005
            while time.perf_counter() < slice_ends:
                pass
            await turn()
        return time.perf_counter() - started
    return late, asyncio.run(main())


def test_a_thread_needing_the_interpreter_lock_is_not_starved_by_sliced_work():
    late, took = run_sliced_work_beside_a_posting_thread(precedence.next_turn)
    assert len(late) == POSTS, f"the thread posted {len(late)} of {POSTS} times in {took:.1f} s"
    # Ideal: POSTS * POST_EVERY = 0.15 s; with a turn that never waits, the thread starved
    # (seconds, or for good). A slow machine may add some, never seconds.
    assert took < 1.5
    assert sorted(late)[len(late) // 2] < 0.005


def test_turns_wait_only_every_hold_seconds(monkeypatch):
    """Between real waits the loop only polls: a listing of many slices is not slowed by a
    millisecond at each of them."""
    waits = []
    real_sleep = asyncio.sleep

    async def counting(delay, *args):
        waits.append(delay)
        return await real_sleep(delay, *args)

    async def main():
        ends = time.perf_counter() + 0.05
        while time.perf_counter() < ends:
            await precedence.next_turn()
    monkeypatch.setattr(asyncio, "sleep", counting)
    asyncio.run(main())
    real = [d for d in waits if d > 0]
    assert real and all(d == precedence.TURN_SECONDS for d in real)
    # At most one real wait per HOLD_SECONDS of the 50 ms (and a first one), the rest polls.
    assert len(real) <= 0.05 / precedence.HOLD_SECONDS + 2
    assert len(waits) > 2 * len(real)
