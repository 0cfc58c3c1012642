"""Package discovery: every package under src/ ships, plus the spec set and the schemas.

The metadata lives in pyproject.toml; only what pyproject cannot say (discovery combined
with the two data folders at the top of the checkout) is here.
"""
from setuptools import find_packages, setup

DATA = {"inferguard._data.specs": "specs", "inferguard._data.schemas": "schemas"}

setup(
    packages=find_packages("src") + sorted(DATA),
    package_dir={"": "src", **DATA},
)
