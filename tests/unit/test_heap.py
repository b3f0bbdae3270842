"""The startup heap is frozen in each service process, after its own garbage went (each case in a fresh
interpreter: freezing pytest's heap would keep its cycles for the rest of the run)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_startup_garbage_is_collected_and_what_is_left_is_frozen() -> None:
    out = python("""
        import gc, weakref
        from libs.platform.heap import freeze_startup_heap

        class Node: pass
        kept, lost = Node(), Node()
        lost.me = lost  # a cycle nothing refers to: garbage a plain refcount never frees
        gone = weakref.ref(lost)
        del lost
        gc.disable()  # only the freeze's own collection may free it
        frozen = freeze_startup_heap()
        # a collection walks gc.get_objects(); what is frozen is not in it
        print(gone() is None, frozen == gc.get_freeze_count() > 1000, any(o is kept for o in gc.get_objects()))
    """)
    assert out == "True True False"


def test_a_service_runner_freezes_before_it_serves() -> None:
    out = python("""
        import gc
        from libs.platform.signals import run_until_signalled

        async def main(stop):
            print(gc.get_freeze_count() > 1000)

        raise SystemExit(run_until_signalled(main))
    """)
    assert out == "True"
