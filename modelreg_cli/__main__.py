"""`python -m modelreg_cli …` behaves exactly like the `modelreg` console script."""

from modelreg_cli.main import main

raise SystemExit(main())
