import sys

from entityscan.cli import main

sys.exit(main())
