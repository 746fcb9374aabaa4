"""The manifest proves a file finished only while the file is unchanged."""

from __future__ import annotations

from pipeline.batch.manifest import Manifest, file_identity


def test_manifest_proves_completion_only_while_files_are_unchanged(tmp_path):
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    src.write_bytes(b"input")
    out.write_bytes(b"output")
    manifest = Manifest(str(tmp_path / "m.jsonl"))
    size, mtime = file_identity(str(out))
    isize, imtime = file_identity(str(src))
    manifest.write({"input": str(src), "output": str(out), "status": "done", "chain": "c",
                    "output_bytes": size, "output_mtime_ns": mtime,
                    "input_bytes": isize, "input_mtime_ns": imtime})
    manifest.close()
    with open(tmp_path / "m.jsonl", "a") as handle:
        handle.write('{"input": "cut sho')  # a line cut by a kill
    again = Manifest(str(tmp_path / "m.jsonl"))
    assert again.completed(str(src), str(out), "c")
    assert not again.completed(str(src), str(out), "other chain")
    out.write_bytes(b"output, changed")
    assert not again.completed(str(src), str(out), "c")
    out.unlink()
    assert not again.completed(str(src), str(out), "c")
