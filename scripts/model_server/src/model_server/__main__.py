"""`python -m model_server serve ...`"""

from model_server.cli import main

raise SystemExit(main())
