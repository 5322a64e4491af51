"""Thrift services read from ``.thrift`` files at run time (issue 24): ``load_service``."""

from gateway.idl.document import IdlFileError
from gateway.idl.reader import load_service

__all__ = ["IdlFileError", "load_service"]
