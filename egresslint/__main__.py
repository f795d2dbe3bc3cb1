"""python -m egresslint"""

from .cli import main

main()
