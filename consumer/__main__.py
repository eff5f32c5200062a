from consumer.commands.cli import main

raise SystemExit(main())
