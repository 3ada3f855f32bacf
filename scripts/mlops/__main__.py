from mlops.cli import main

raise SystemExit(main())
