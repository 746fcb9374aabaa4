from pipeline.cli.entry import console

raise SystemExit(console())
