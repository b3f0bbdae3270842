"""``file://`` data links page like ``s3://`` ones: ``nextPageToken`` continues a folder's listing in name order."""

from __future__ import annotations

from pathlib import Path

from services.gateway.read.browse import browse


def test_a_local_link_is_listed_page_by_page_with_next_page_tokens(tmp_path: Path) -> None:
    for name in ("b.txt", "a.txt", "c.csv", "d.txt"):
        (tmp_path / name).write_text(name)
    (tmp_path / "sub").mkdir()
    pages, token = [], None
    while True:
        page = browse(tmp_path.as_uri(), "local", page_size=2, next_page_token=token)
        pages.append([o["name"] for o in page["objects"]])
        token = page["nextPageToken"]
        if token is None:
            break
    assert pages == [["a.txt", "b.txt"], ["c.csv", "d.txt"], ["sub"]]
    assert [o["name"] for o in browse(tmp_path.as_uri(), "local", search="c")["objects"]] == ["c.csv"]
    assert browse(tmp_path.as_uri(), "local", page_size=5)["nextPageToken"] is None
