from pipeline.entry import guarded, skip_final_collection


def _batch() -> int:
    from pipeline.batch.command import main

    return main()


code = guarded(_batch)
skip_final_collection()
raise SystemExit(code)
