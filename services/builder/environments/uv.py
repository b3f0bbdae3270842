"""``UvEnvironments``: a build is a virtual environment made by ``uv venv`` and filled by ``uv pip install``.

The binary is the one the ``uv`` package installs (``uv.find_uv_bin()``), never a download. Python is never
downloaded either (``UV_PYTHON_DOWNLOADS=never``): a version that is not installed fails the build with uv's
own "no interpreter found". Packages come from the configured index, or only from a local directory
(``find_links`` with ``no_index``: what the tests and air-gapped installs use). uv's cache is shared by every
build, so a warm build (one package changed) links what it already has instead of fetching it again.

An environment is built in place under ``<root>/<build id>`` and counts as built only once its marker file is
written, last; a directory without one (a build cut short) is removed before the next attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import sys
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

import psutil

from libs.contracts.build import Artifact, BuildSpec
from services.builder.environments.base import BuildError, OutputSink

MARKER = ".studios-build.json"
_TAIL = 12  # lines of a failing command's output in the failure message
_ENV_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")


def uv_binary() -> str:
    import uv

    return str(uv.find_uv_bin())


class UvEnvironments:
    kind = "venv"

    def __init__(self, root: Path, cache_dir: Path, *, find_links: Sequence[str] = (), index_url: str | None = None,
                 no_index: bool = False, uv_bin: str | None = None) -> None:
        self.root, self.cache_dir = root, cache_dir
        self.find_links, self.index_url, self.no_index = tuple(find_links), index_url, no_index
        self.uv = uv_bin or uv_binary()

    def path(self, build_id: str) -> Path:
        return self.root / build_id

    async def exists(self, artifact: Artifact) -> bool:
        parsed = urlparse(artifact.uri)
        return parsed.scheme == "file" and (Path(parsed.path) / MARKER).is_file()

    async def build(self, build_id: str, spec: BuildSpec, out: OutputSink) -> Artifact:
        target = self.path(build_id)
        # an installer that a killed builder left behind must not write into this attempt
        _reap(self.root.parent / "installers" / build_id)
        if target.exists():
            await asyncio.to_thread(shutil.rmtree, target)  # an earlier attempt's leftovers
        target.parent.mkdir(parents=True, exist_ok=True)
        await self._run(out, "venv", str(target), "--python", _interpreter(spec.python), "--no-config", "--quiet")
        python = str(target / "bin" / "python")
        if spec.requirements:
            requirements = target / "studios-requirements.txt"
            requirements.write_text("".join(f"{r}\n" for r in spec.requirements))
            await self._run(out, "pip", "install", "--python", python, "--no-config", "-r", str(requirements),
                            *self._index_args())
        frozen = await self._run(out, "pip", "freeze", "--python", python, "--no-config", quiet=True)
        digest = hashlib.sha256(frozen.encode()).hexdigest()
        size = await asyncio.to_thread(_size, target)
        (target / MARKER).write_text(json.dumps({"build_id": build_id, "sha256": digest, "python": spec.python}))
        return Artifact(uri=target.resolve().as_uri(), sha256=digest, size=size)

    def _pidfile(self, args: Sequence[str]) -> Path | None:
        """Where this installer's pid is kept while it runs (the build id is the target's name)."""
        target = next((Path(a) for a in args if a.startswith(str(self.root))), None)
        if target is None:
            return None
        build_id = target.relative_to(self.root).parts[0]
        return self.root.parent / "installers" / build_id

    def _index_args(self) -> list[str]:
        args: list[str] = []
        for link in self.find_links:
            args += ["--find-links", link]
        if self.no_index:
            args.append("--no-index")
        elif self.index_url:
            args += ["--index-url", self.index_url]
        return args

    def _env(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in _ENV_KEEP if k in os.environ}
        env.update(UV_CACHE_DIR=str(self.cache_dir), UV_PYTHON_DOWNLOADS="never", UV_NO_PROGRESS="1",
                   NO_COLOR="1", UV_LINK_MODE="hardlink" if _same_device(self.cache_dir, self.root) else "copy")
        return env

    async def _run(self, out: OutputSink, *args: str, quiet: bool = False) -> str:
        """Run uv, every output line to ``out`` as it comes (unless ``quiet``); its stdout is returned. A failure
        raises ``BuildError`` with the command's last lines; a cancel kills the command's process group."""
        if not quiet:
            out.line(f"$ uv {' '.join(args)}", "stdout")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        pidfile = self._pidfile(args)
        command = [self.uv, *args]
        if pidfile is not None:
            # The child records its own pid before it becomes uv: written by the parent after the spawn returned,
            # the record missed a builder killed in between, and nobody reaped its installer.
            pidfile.parent.mkdir(parents=True, exist_ok=True)
            command = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(pidfile), *command]
        proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE, env=self._env(),
                                                    start_new_session=True)
        tail: deque[str] = deque(maxlen=_TAIL)
        stdout: list[str] = []

        async def pump(stream: asyncio.StreamReader | None, name: str) -> None:
            assert stream is not None
            async for raw in stream:
                text = raw.decode(errors="replace").rstrip("\n")
                if name == "stdout":
                    stdout.append(text)
                if not quiet or name == "stderr":
                    out.line(text, name)
                    if not text.startswith("Using Python"):  # uv's preamble: noise in a failure message
                        tail.append(text)

        try:
            await asyncio.gather(pump(proc.stdout, "stdout"), pump(proc.stderr, "stderr"))
            code = await proc.wait()
        finally:
            if proc.returncode is None:  # cancelled: the installer must not outlive its build
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(Exception):
                    await asyncio.shield(proc.wait())
            if pidfile is not None:
                pidfile.unlink(missing_ok=True)
        if code != 0:
            message = "\n".join(line for line in tail if line.strip()) or f"uv {args[0]} exited with code {code}"
            raise BuildError(message)
        return "\n".join(stdout)


#: seconds between a process's start and its pid record that still make them one birth (a loaded host's fork)
_SAME_BIRTH = 30.0


def _interpreter(python: str) -> str:
    """The builder's own interpreter when it is the version asked for: uv then skips discovery (which runs every
    ``python`` on ``PATH``, shims included: half a second here). Any other version is left to uv to find."""
    own = f"{sys.version_info.major}.{sys.version_info.minor}"
    return sys.executable if python == own else python


def _reap(pidfile: Path) -> None:
    """Kill the installer process group recorded here, if that very process still runs: the pid leads its own
    process group (``start_new_session``) and was born when the record was written (not a reused pid)."""
    try:
        pid = int(pidfile.read_text())  # the one field the child wrote (int() ignores the newline)
        process = psutil.Process(pid)
        if os.getpgid(pid) == pid and abs(process.create_time() - pidfile.stat().st_mtime) < _SAME_BIRTH:
            os.killpg(pid, signal.SIGKILL)
    except (OSError, ValueError, psutil.Error):
        pass
    pidfile.unlink(missing_ok=True)


def _size(path: Path) -> int:
    total = 0
    for p in path.rglob("*"):
        with contextlib.suppress(OSError):
            if not p.is_symlink() and p.is_file():
                total += p.stat().st_size
    return total


def _same_device(a: Path, b: Path) -> bool:
    """Hard links need one file system; elsewhere uv would warn and copy anyway."""
    try:
        a.mkdir(parents=True, exist_ok=True)
        b.mkdir(parents=True, exist_ok=True)
        return a.stat().st_dev == b.stat().st_dev
    except OSError:
        return False
