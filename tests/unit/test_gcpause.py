"""What outlived a full collection is frozen, so the next ones scan only what is new; and
everything is thawed now and then, so that cycles among frozen objects are reclaimed."""
import asyncio
import gc

from hpcq.gcpause import LongLivedFrozen


def test_a_full_collection_freezes_its_survivors_and_a_thaw_comes_in_time():
    async def main():
        frozen = LongLivedFrozen(asyncio.get_running_loop(), thaw_seconds=3600)
        try:
            gc.collect()
            await asyncio.sleep(0)   # the freeze runs on the loop
            assert frozen.freezes == 1 and gc.get_freeze_count() > 0
            frozen.thawed_at -= 3600   # the thaw is due
            gc.collect()
            await asyncio.sleep(0)
            assert gc.get_freeze_count() == 0 and frozen.freezes == 1
        finally:
            frozen.close()
            gc.unfreeze()
    asyncio.run(main())
    assert not [cb for cb in gc.callbacks if getattr(cb, "__self__", None).__class__ is LongLivedFrozen]
