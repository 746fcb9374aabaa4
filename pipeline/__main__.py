from pipeline.entry import console

raise SystemExit(console())
