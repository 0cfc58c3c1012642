from inferguard.cli import run

run()
