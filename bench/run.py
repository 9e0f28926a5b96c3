"""Run the benchmark as a script: ``python bench/run.py [options]``.

Same as ``python -m bench``; puts the repository root on the import path first.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.__main__ import main  # noqa: E402  (needs the path set above)

if __name__ == "__main__":
    main()
