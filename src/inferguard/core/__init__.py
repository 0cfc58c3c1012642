"""What every layer shares: problems and exit codes, input file checks, the install check."""
