"""libs/platform/folders.py on the real file system: a folder goes with all it holds, and nothing outside it does."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from libs.platform.folders import mount_inside, remove_tree
from services.lifecycle.backends import mounts


def _filled(folder: Path) -> Path:
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    (folder / "sub" / "deeper" / "data.csv").write_text("1,2")
    return folder


def test_a_folder_goes_with_everything_in_it_even_read_only_parts(tmp_path: Path) -> None:
    folder = _filled(tmp_path / "ws")
    (folder / "sub" / "deeper").chmod(0o555)  # as a data-link copy, or a tool's chmod, leaves it
    (folder / "sub").chmod(0o500)
    assert remove_tree(folder)
    assert not folder.exists() and tmp_path.exists()


def test_symlinks_are_removed_and_what_they_name_is_kept(tmp_path: Path) -> None:
    outside = tmp_path / "link-source"
    outside.mkdir()
    (outside / "keep.txt").write_text("not the studio's")
    folder = _filled(tmp_path / "ws")
    (folder / "data").mkdir()
    (folder / "data" / "ref").symlink_to(outside, target_is_directory=True)  # how a data link is shown
    (folder / "file-link").symlink_to(outside / "keep.txt")
    assert remove_tree(folder)
    assert not folder.exists()
    assert (outside / "keep.txt").read_text() == "not the studio's"


def test_a_folder_already_gone_is_removed(tmp_path: Path) -> None:
    assert remove_tree(tmp_path / "never-made")
    assert mount_inside(tmp_path) is None


@pytest.mark.skipif(not mounts.can_mount(), reason="needs root and unshare to make a mount namespace")
def test_a_folder_holding_a_mount_point_is_left_whole(tmp_path: Path) -> None:
    """In a mount namespace of its own (nothing of it reaches this host's mounts): a tmpfs mounted inside the
    folder, with a file on it; the folder, the mount and the file all stay."""
    folder = _filled(tmp_path / "ws")
    (folder / "mounted").mkdir()
    script = (
        "import sys; from pathlib import Path; from libs.platform.folders import mount_inside, remove_tree\n"
        "folder = Path(sys.argv[1])\n"
        "(folder / 'mounted' / 'on-tmpfs.txt').write_text('operator data')\n"
        "print(mount_inside(folder) == folder / 'mounted', remove_tree(folder),\n"
        "      (folder / 'mounted' / 'on-tmpfs.txt').exists(), (folder / 'notes.txt').exists())\n")
    unshare = shutil.which("unshare")
    assert unshare is not None
    shell = f'mount -t tmpfs none "$1/mounted" && exec "{sys.executable}" -c "$2" "$1"'
    done = subprocess.run([unshare, "--mount", "--propagation", "private", "sh", "-c", shell, "sh", str(folder),
                           script], capture_output=True, text=True, cwd=os.getcwd(), check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False", "True", "True"]
    assert (folder / "notes.txt").exists()  # on this side too: nothing was removed
