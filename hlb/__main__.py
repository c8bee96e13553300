from hlb.cli.main import main

raise SystemExit(main())
