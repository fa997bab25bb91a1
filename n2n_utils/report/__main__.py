"""`python -m n2n_utils.report [--check]`: see the package's docstring."""

import sys

from . import main

sys.exit(main())
