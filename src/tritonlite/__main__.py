"""``python -m tritonlite [serve] --model-repository DIR ...``"""

import sys

from tritonlite.cli import main

sys.exit(main())
