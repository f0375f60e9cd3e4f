from otel_llmcost.cli import main

raise SystemExit(main())
