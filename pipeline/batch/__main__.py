from pipeline.entry import guarded


def _batch() -> int:
    from pipeline.batch.command import main

    return main()


raise SystemExit(guarded(_batch))
