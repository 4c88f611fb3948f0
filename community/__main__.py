import sys

from community.cli import main

sys.exit(main())
