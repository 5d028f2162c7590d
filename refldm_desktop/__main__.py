from refldm_desktop.cli import main

raise SystemExit(main())
