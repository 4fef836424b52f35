"""tim-reconciler: chat groups as code for Tencent Cloud Chat."""

# The version is the git tag's, computed when the package is built or installed (setuptools-scm
# writes reconciler/_version.py); nothing here calls git, so `reconciler --version` stays fast.
try:
    from reconciler._version import __version__
except ImportError:  # a tree never built: the installed distribution's metadata, if any
    from importlib.metadata import PackageNotFoundError, version

    try:
        __version__ = version("tim-reconciler")
    except PackageNotFoundError:
        __version__ = "0.0.0+unknown"
