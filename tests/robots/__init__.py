"""Local robot servers of WeCom, DingTalk and Feishu for the outlet tests (``server``)."""

from tests.robots.server import Received, RobotServer

__all__ = ["Received", "RobotServer"]
