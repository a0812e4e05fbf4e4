import sys

from sedse.cli import main

sys.exit(main())
