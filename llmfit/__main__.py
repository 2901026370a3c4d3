"""python -m llmfit"""

from llmfit.entry import main

main()
