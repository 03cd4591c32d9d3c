import sys

from goalstore.cli import main

sys.exit(main())
