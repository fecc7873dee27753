"""Kernel benchmarks, each a ratio against a numpy reference measured in this same run.

    python benchmarks/run_benchmarks.py [--quick] [--json]

Same as ``sqsim bench``.
"""

import sys

from sqsim.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
