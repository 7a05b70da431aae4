"""Every error row of NOTES.md maps to the class that says what to do; so do a full disk and a
damaged lake file."""

import errno
import sqlite3

import pytest

from neo.core.errors import LakeFileError, NeoError, StorageError, explain
from neo.sources import errors as e

NOTES_TABLE = [
    (40101, "您的token不对，请确认。", e.CredentialError),
    (40101, "请指定正确的接口名", e.UnknownApiError),
    (
        40203,
        "抱歉，您每分钟最多访问该接口500次，权限的具体详情访问：https://tushare.pro/document/1?doc_id=108。",
        e.QuotaError,
    ),
    (
        40203,
        "抱歉，您每小时最多访问该接口1次，权限的具体详情访问：https://tushare.pro/document/1?doc_id=108。",
        e.QuotaExhaustedError,
    ),
    (40203, "抱歉，您每天最多访问该接口10次", e.QuotaExhaustedError),
    (
        40203,
        "抱歉，您没有接口访问权限，权限的具体详情访问：https://tushare.pro/document/1?doc_id=108。",
        e.ApiPermissionError,
    ),
    (40203, "抱歉，您没有接口(income_vip)访问权限，权限的具体详情访问：...", e.ApiPermissionError),
    (-2002, "抱歉，您没有访问该接口的权限，权限的具体详情访问：...", e.ApiPermissionError),
    (-2001, "接口trade_cal不包含字段exchange_id", e.BadRequestError),
    (-1, "服务器错误(数据库异常)，请稍后再试！期待您能把错误反馈给我们，谢谢！", e.TransientError),
    (50101, "服务器错误，请稍后再试！期待您能把错误反馈给我们，谢谢！", e.TransientError),
    (-1000, "系统内部错误", e.BadRequestError),
    (40101, "您的IP数量超限，最大数量为2个！", e.CredentialError),
    (40101, "ts_code required", e.BadRequestError),  # not the token: a call without a needed param
    (12345, "something new", e.TransientError),  # unknown: retried a bounded number of times, then loud
]


@pytest.mark.parametrize(("code", "msg", "cls"), NOTES_TABLE)
def test_classification_by_message_text(code: int, msg: str, cls: type) -> None:
    err = e.classify("daily", code, msg)
    assert type(err) is cls
    assert str(err).startswith("daily: ") and msg in str(err) and "\n" not in str(err)


@pytest.mark.parametrize(
    ("exc", "kind", "text"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "/d/x.parquet"), StorageError, "no space left"),
        (OSError(errno.EROFS, "Read-only file system"), StorageError, "read-only"),
        (sqlite3.OperationalError("database or disk is full"), StorageError, "no space left"),
        (sqlite3.OperationalError("disk I/O error"), StorageError, "I/O error"),
        (RuntimeError("IO Error: No space left on device"), StorageError, "no space left"),
        (
            RuntimeError("Invalid Input Error: No magic bytes found at end of file '/l/a.parquet'"),
            LakeFileError,
            "/l/a.parquet",
        ),
        (
            RuntimeError('IO Error: Cannot open file "/l/b.parquet": No such file'),
            LakeFileError,
            "/l/b.parquet",
        ),
        (
            RuntimeError("Out of Memory Error: could not allocate\n\nPossible solutions:"),
            NeoError,
            "memory_limit",
        ),
    ],
)
def test_failures_of_the_environment_become_one_clear_line(exc: Exception, kind: type, text: str) -> None:
    explained = explain(exc)
    assert isinstance(explained, kind) and text in str(explained) and "\n" not in str(explained)


def test_other_failures_are_not_explained_away() -> None:
    assert explain(ValueError("a bug")) is None
    assert explain(OSError(errno.ENOENT, "No such file")) is None
