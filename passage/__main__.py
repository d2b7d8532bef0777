from passage.cli import main

raise SystemExit(main())
