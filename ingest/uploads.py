"""Uploaded files: what they really are (by content), safe names, storage under <data_dir>/uploads/.

Kept beside the ingest rather than in the UI so any front end (the Gradio app, a CLI command, a
script) stores files the same way before handing them to `ingest_paths`: nothing is parsed here,
only checked (type by content, size) and copied under a name that cannot escape the folder.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import threading
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ingest.documents import LoadError
from ingest.loaders import decode_text
from settings import Settings

UPLOAD_KINDS = {
    ".pdf": "pdf", ".docx": "docx", ".html": "html", ".htm": "html", ".txt": "text", ".md": "text",
    ".doc": "word97", ".wps": "word97", ".ofd": "ofd", ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg",
}
KIND_NAMES = {
    "pdf": "PDF", "docx": "Word 文档（DOCX）", "html": "HTML 网页", "text": "文本", "word97": "Word 97–2003 / WPS 文档",
    "ofd": "OFD 版式文件", "png": "PNG 图片", "jpeg": "JPEG 图片",
}
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .doc and .wps are OLE compound files (or RTF)


class UploadError(Exception):
    """An uploaded file is refused; the message says why, in Chinese, for the user."""


def uploads_dir(settings: Settings) -> Path:
    return settings.data_path / "uploads"


def safe_filename(name: str) -> str:
    """A file name without directories or unsafe characters; CJK and other letters are kept.

    '../../evil.txt' -> 'evil.txt'; 'C:\\x\\政策 文件?.pdf' -> '政策 文件_.pdf'; '.bashrc' -> 'bashrc'.
    """
    name = unicodedata.normalize("NFC", str(name)).replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if ch.isprintable())
    name = re.sub(r"[^\w\-. ()（）《》〔〕【】、，·+]", "_", name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    stem = stem.strip(" .") or "upload"
    while len(stem.encode("utf-8")) > 180:  # keep well inside the 255-byte file-name limit
        stem = stem[:-1]
    return f"{stem}.{ext.lower()}" if ext else stem


def _decodes_as_text(data: bytes) -> bool:
    """Text by the same strict rules the loader applies (BOMs, UTF-8, GB18030, no binary junk)."""
    try:
        return bool(decode_text(data).strip())
    except LoadError:
        return False


def sniff_kind(data: bytes) -> str | None:
    """What the bytes are: pdf, docx, word97 (.doc/.wps), ofd, png, jpeg, zip, html, text, or None."""
    head = data[:1024]
    if b"%PDF-" in head:
        return "pdf"
    if head.startswith(_OLE_MAGIC) or head.startswith(b"{\\rtf"):
        return "word97"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                names = zf.namelist()
        except zipfile.BadZipFile:
            return None
        if "word/document.xml" in names:
            return "docx"
        return "ofd" if any(n.lower() == "ofd.xml" for n in names) else "zip"
    if _decodes_as_text(data):
        lowered = head.decode("utf-8", errors="ignore").lstrip("\ufeff \r\n\t").lower()
        if "<html" in lowered or "<!doctype html" in lowered:
            return "html"
        return "text"
    return None


def check_upload(name: str, data: bytes, max_bytes: int) -> str:
    """Refuse (UploadError) files that are too big, empty, unsupported or not what their extension says."""
    ext = Path(name).suffix.lower()
    if ext not in UPLOAD_KINDS:
        raise UploadError(f"不支持的文件类型 {ext or '（无扩展名）'}，仅支持 PDF、DOCX、DOC、WPS、OFD、HTML、TXT、MD、PNG、JPG")
    if len(data) > max_bytes:
        raise UploadError(f"文件过大（{len(data) / 1048576:.1f} MB），上限为 {max_bytes / 1048576:.0f} MB")
    if not data:
        raise UploadError("文件为空")
    expected = UPLOAD_KINDS[ext]
    actual = sniff_kind(data)
    ok = actual == expected or (expected == "text" and actual == "html")
    if not ok:
        what = KIND_NAMES.get(actual or "", "无法识别的二进制内容" if actual is None else actual)
        raise UploadError(f"文件内容与扩展名不符：扩展名为 {ext}，但内容是{what}")
    return expected


@dataclass
class StoredUpload:
    path: Path
    new: bool  # False: identical content was already stored under this name


_store_lock = threading.Lock()


def store_upload(src: Path | str, folder: Path, max_bytes: int, original_name: str | None = None) -> StoredUpload:
    """Check one uploaded file and copy it into `folder` under a safe, non-clashing name."""
    src = Path(src)
    name = original_name or src.name
    try:
        size = src.stat().st_size
        if size > max_bytes:  # refuse before reading a huge file into memory
            raise UploadError(f"文件过大（{size / 1048576:.1f} MB），上限为 {max_bytes / 1048576:.0f} MB")
        data = src.read_bytes()
    except OSError as exc:
        raise UploadError(f"无法读取上传的文件：{exc.strerror or exc}") from None
    check_upload(name, data, max_bytes)
    digest = hashlib.sha256(data).digest()
    safe = safe_filename(name)
    stem, ext = (safe.rsplit(".", 1) + [""])[:2] if "." in safe else (safe, "")
    folder.mkdir(parents=True, exist_ok=True)
    root = folder.resolve()
    with _store_lock:
        for i in range(1, 1000):
            candidate = safe if i == 1 else (f"{stem} ({i}).{ext}" if ext else f"{stem} ({i})")
            target = root / candidate
            if target.parent != root:  # cannot happen after safe_filename; defence in depth
                raise UploadError("非法文件名")
            if target.exists():
                try:
                    if hashlib.sha256(target.read_bytes()).digest() == digest:
                        return StoredUpload(target, new=False)
                except OSError:
                    pass
                continue
            tmp = root / f".{candidate}.part"
            tmp.write_bytes(data)
            os.replace(tmp, target)
            return StoredUpload(target, new=True)
    raise UploadError("同名文件过多，请改名后再上传")


def remove_upload(settings: Settings, name: str) -> bool:
    """Delete the stored copy of an uploaded document, if `name` is one (a corpus file never is)."""
    copy = uploads_dir(settings) / safe_filename(name)
    if safe_filename(name) == name and copy.is_file():
        copy.unlink(missing_ok=True)
        return True
    return False


def is_uploaded(settings: Settings, name: str) -> bool:
    return (uploads_dir(settings) / name).is_file()
