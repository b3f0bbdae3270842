"""Checkpoints: a mixed workspace (many small files, a few large, part compressible) saved, saved again after a
1 MiB change and after none, and restored, each beside its baseline in the same run: ``tar | zstd -3`` (and
``restic`` when installed). Then the bytes stored after 10 interim checkpoints with small changes beside 10 full
archives. ``python -m bench --only checkpoints [--mib 1024] [--rounds 2]``; needs no database (the storage engine
alone). The full checkpoint and the restore alternate with their baselines for ``--rounds`` rounds and the best of
each is shown (a loaded machine slows whichever runs when the load comes); an interim save is timed with the load
of its base manifest, as the service does it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.common import Stopwatch
from services.checkpoints.storage.engine import Engine, Saved

MIB = 1 << 20


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--mib", type=int, default=1024, help="size of the workspace")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of ours and the baseline, alternating")
    return parser.parse_known_args()[0]


def make_workspace(root: Path, mib: int) -> None:
    """An eighth in ~16 KiB files (half text, half random), the rest in large files: half random, half text."""
    rng = random.Random(7)
    words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(5000)]

    def text(n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            out += b" ".join(rng.choices(words, k=200)) + b"\n"
        return bytes(out[:n])

    small_total, i = mib * MIB // 8, 0
    written = 0
    while written < small_total:
        size = rng.randint(1024, 32 * 1024)
        folder = root / "src" / f"d{i % 97}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}.dat").write_bytes(text(size) if i % 2 else os.urandom(size))
        written, i = written + size, i + 1
    large = (mib * MIB - written) // 4
    for n in range(4):
        with open(root / f"large{n}.bin", "wb") as f:
            for _ in range(large // (8 * MIB)):
                f.write(os.urandom(8 * MIB) if n % 2 == 0 else text(8 * MIB))


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def sh(cmd: str, env: dict[str, str] | None = None) -> float:
    with Stopwatch() as t:
        subprocess.run(["sh", "-c", cmd], check=True, env={**os.environ, **(env or {})},
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return t.seconds


def change_one_mib(root: Path, n: int) -> None:
    with open(root / f"large{n % 4}.bin", "r+b") as f:
        f.seek((n * 37 * MIB) % max(MIB, (root / f"large{n % 4}.bin").stat().st_size - MIB))
        f.write(os.urandom(MIB))


def line(name: str, ours: str, baseline: str) -> None:
    print(f"{name}: ours {ours} | baseline {baseline}", flush=True)


async def run(tmp: Path, mib: int, rounds: int) -> None:
    ws, store = tmp / "ws", tmp / "store"
    make_workspace(ws, mib)
    size = du(ws)
    engine = Engine(str(store))
    try:
        full_s, tar_s = [], []
        for _ in range(rounds):  # alternating, each on an empty store; the pool starts in the first
            shutil.rmtree(store, ignore_errors=True)
            with Stopwatch() as t:
                full = await engine.save(1, str(ws))
            full_s.append(t.seconds)
            tar_s.append(sh(f"tar -cf - -C {ws} . | zstd -3 -T0 -q -f -o {tmp}/full.tar.zst"))
        full_t, tar_t = min(full_s), min(tar_s)
        tar_size = (tmp / "full.tar.zst").stat().st_size
        line(f"full checkpoint of {size / MIB:.0f} MiB ({engine.workers} workers, best of {rounds})",
             f"{full_t:.2f}s {size / MIB / full_t:.0f} MB/s stored {du(store) / MIB:.0f} MiB",
             f"tar|zstd -3 {tar_t:.2f}s {size / MIB / tar_t:.0f} MB/s {tar_size / MIB:.0f} MiB "
             f"(ours/baseline {full_t / tar_t:.2f}; rounds {_list(full_s)} | {_list(tar_s)})")
        restic = shutil.which("restic")
        env = {"RESTIC_PASSWORD": "bench", "RESTIC_REPOSITORY": str(tmp / "restic")}
        if restic:
            sh("restic init", env)
            restic_t = sh(f"restic backup -q {ws}", env)
            line("full checkpoint", f"{full_t:.2f}s",
                 f"restic backup {restic_t:.2f}s {du(tmp / 'restic') / MIB:.0f} MiB")
        else:
            print("restic: not installed (apt-get install restic), its baseline skipped", flush=True)

        ref = full.manifest
        ones = []
        for n in range(3):
            change_one_mib(ws, 1 + n)
            with Stopwatch() as t:
                one = await engine.save(1, str(ws), await engine.load(ref, cached=True))
            ones.append(t.seconds)
            ref = one.manifest
        one_t = sorted(ones)[len(ones) // 2]
        line("interim after changing 1 MiB (median of 3)", f"{one_t:.3f}s "
             f"({one_t / full_t:.3f} of the full; target < 0.05) {_written(one)}",
             f"a full archive again {tar_t:.2f}s")
        with Stopwatch() as none_t:
            none = await engine.save(1, str(ws), await engine.load(ref, cached=True))
        line("interim after changing nothing", f"{none_t.seconds:.3f}s (target < 2 s, 0 bytes) {_written(none)}",
             f"a full archive again {tar_t:.2f}s")

        restore_s, untar_s = [], []
        last = await engine.load(none.manifest)
        for _ in range(rounds):
            shutil.rmtree(tmp / "restored", ignore_errors=True)
            shutil.rmtree(tmp / "untar", ignore_errors=True)
            with Stopwatch() as t:
                await engine.restore(last, str(tmp / "restored"))
            restore_s.append(t.seconds)
            (tmp / "untar").mkdir()
            untar_s.append(sh(f"zstd -d -q -c {tmp}/full.tar.zst | tar -xf - -C {tmp}/untar"))
        restore_t, untar_t = min(restore_s), min(untar_s)
        line(f"restore (best of {rounds})", f"{restore_t:.2f}s {size / MIB / restore_t:.0f} MB/s",
             f"zstd -d|tar x {untar_t:.2f}s {size / MIB / untar_t:.0f} MB/s (ours/baseline "
             f"{restore_t / untar_t:.2f}; rounds {_list(restore_s)} | {_list(untar_s)})")
        if restic:
            restic_r = sh(f"restic restore -q latest --target {tmp}/restic-out", env)
            line("restore", f"{restore_t:.2f}s", f"restic restore {restic_r:.2f}s")

        before = du(store)
        prev = await engine.load(none.manifest)
        for n in range(10):
            change_one_mib(ws, n + 2)
            (ws / "src" / f"note{n}.txt").write_text(f"change {n}\n" * 100)
            saved = await engine.save(1, str(ws), prev)
            prev = await engine.load(saved.manifest)
        line("bytes stored by 10 interim checkpoints with small changes",
             f"{(du(store) - before) / MIB:.1f} MiB", f"10 full archives {10 * tar_size / MIB:.0f} MiB")
    finally:
        engine.close()


def _list(seconds: list[float]) -> str:
    return " ".join(f"{x:.2f}" for x in seconds)


def _written(saved: Saved) -> str:
    """What the save wrote: its new chunks, and its manifest unless the same one was stored already."""
    return f"wrote {saved.bytes_written} bytes ({saved.chunks_written} chunks, manifest {saved.manifest.size} bytes)"


def main() -> None:
    args = _args()
    tmp = Path(tempfile.mkdtemp(prefix="studios-bench-checkpoints-"))
    try:
        asyncio.run(run(tmp, args.mib, args.rounds))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
