"""Builds zesp._native against libzesp (pkg-config libzesp, or
ZESP_INCLUDE_DIR and ZESP_LIBRARY_DIR); the version is the library's."""
import os
import sys

from setuptools import setup

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "zesp"))
from _build import library_version  # noqa: E402

setup(version=library_version(),
      cffi_modules=["zesp/_build.py:ffibuilder"])
