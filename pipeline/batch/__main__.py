from pipeline.batch.command import main

raise SystemExit(main())
