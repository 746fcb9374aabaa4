from pipeline.cli.entry import batch_console

raise SystemExit(batch_console())
