"""``python -m revops.report``: the same as ``revops-report``."""

import sys

from revops.report.cli import main

sys.exit(main())
