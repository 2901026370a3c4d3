"""python -m llmfit"""

from llmfit.cli import main

main()
