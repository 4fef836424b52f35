"""tim-reconciler: chat groups as code for Tencent Cloud Chat."""

__version__ = "0.1.0"
